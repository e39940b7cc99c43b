"""Rows for the benchmarks, written by PostgreSQL itself (generate_series): setup is not what is measured."""

from datetime import timedelta


def sent_invitations(organization, count: int, *, channel: str = "email", spread: bool = False) -> None:
    """``count`` sent, eligible invitations of ``organization`` (its default workflow), sent 20 hours
    ago; with ``spread``, each created (and sent) a second before the next, as a long-lived list is."""
    from django.db import connection
    from django.utils import timezone

    from invitations.models import Invitation
    from invitations.services import workflow_get_default

    workflow = workflow_get_default(organization=organization)
    now = timezone.now()
    recipient = "'+1415' || lpad(i::text, 7, '0')" if channel == "sms" else "'user' || i || '@example.com'"
    step = "make_interval(secs => i)" if spread else "interval '0'"
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {Invitation._meta.db_table} (token, organization_id, workflow_id, livemode, status,
                channel, recipient, reference, locale, delivery_attempts, error_message, dossier_token,
                created_at, updated_at, sent_at, expires_at)
            SELECT 'adi_' || substr(md5(i::text || clock_timestamp()::text), 1, 24), %s, %s, true, 'sent', %s,
                {recipient}, 'bench', 'en', 1, '', '', %s - {step}, %s, %s - {step}, %s
            FROM generate_series(1, %s) AS i
            """,
            [
                organization.pk,
                workflow.pk,
                channel,
                now - timedelta(days=1),
                now,
                now - timedelta(hours=20),
                now + timedelta(days=29),
                count,
            ],
        )
        cursor.execute(f"VACUUM ANALYZE {Invitation._meta.db_table}")
