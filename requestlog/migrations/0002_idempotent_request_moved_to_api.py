from django.db import migrations


class Migration(migrations.Migration):
    """IdempotentRequest now belongs to the api app (its table is kept as it is)."""

    dependencies = [
        ("requestlog", "0001_initial"),
        ("api", "0001_idempotent_request"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="IdempotentRequest")],
            database_operations=[],
        ),
    ]
