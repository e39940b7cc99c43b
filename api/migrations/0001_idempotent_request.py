import django.core.serializers.json
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    """IdempotentRequest moves from requestlog to api: its table stays where it is."""

    initial = True

    dependencies = [
        ("accounts", "0003_account_events"),
        ("requestlog", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="IdempotentRequest",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("livemode", models.BooleanField()),
                        ("key", models.CharField(max_length=255)),
                        (
                            "fingerprint",
                            models.CharField(help_text="SHA-256 of the method, path and canonical body.", max_length=64),
                        ),
                        ("created_at", models.DateTimeField()),
                        ("response_status", models.PositiveSmallIntegerField(blank=True, null=True)),
                        (
                            "response_body",
                            models.JSONField(
                                blank=True, encoder=django.core.serializers.json.DjangoJSONEncoder, null=True
                            ),
                        ),
                        (
                            "organization",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE, related_name="+", to="accounts.organization"
                            ),
                        ),
                    ],
                    options={
                        "db_table": "requestlog_idempotentrequest",
                        "indexes": [models.Index(fields=["created_at"], name="idempotent_request_created")],
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("organization", "livemode", "key"), name="idempotent_request_unique_key"
                            )
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
