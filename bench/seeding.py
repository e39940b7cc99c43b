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


def delivery_history(organization, count: int, *, livemode: bool = True, hours: int = 24) -> None:
    """``count`` invitations of ``organization`` with one send attempt each, queued evenly over the
    last ``hours`` hours: the delivery health benchmark's bulk loader. Of every 100 sends, 80 are
    delivered, 8 accepted, 5 bounced and 7 failed (one of three reasons); 70 go by email (Postmark),
    30 by SMS (Twilio). Accepted 0.1 to 3 s after queued, delivered 1 to 60 s after that. The rollups
    are then filled by the product's own refresh (``delivery_stats_refresh``)."""
    from django.db import connection
    from django.utils import timezone

    from delivery.health import failure_reason
    from delivery.models import DeliveryAttempt
    from invitations.models import Invitation
    from invitations.services import workflow_get_default

    workflow = workflow_get_default(organization=organization)
    now = timezone.now()
    span = timedelta(hours=hours).total_seconds()
    reasons = [
        "Recipient refused by the email provider: You tried to send to recipient(s) that have been marked as "
        "inactive. Found inactive addresses: ana@example.com.",
        "Twilio error 21211: The 'To' number +15005550001 is not a valid phone number.",
        "The email provider refused the message (HTTP 503): Service Unavailable (retries exhausted)",
    ]
    grouped = [failure_reason(reason) for reason in reasons]
    invitations, attempts = Invitation._meta.db_table, DeliveryAttempt._meta.db_table
    marker = f"history-{organization.pk}-{int(livemode)}"
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {invitations} (token, organization_id, workflow_id, livemode, status,
                channel, recipient, reference, locale, delivery_attempts, error_message, dossier_token,
                created_at, updated_at, sent_at, expires_at)
            SELECT 'adi_' || substr(md5(i::text || clock_timestamp()::text), 1, 24), %s, %s, %s,
                CASE WHEN i %% 100 < 80 THEN 'delivered' WHEN i %% 100 < 88 THEN 'sent' ELSE 'failed' END,
                CASE WHEN i %% 10 < 7 THEN 'email' ELSE 'sms' END,
                CASE WHEN i %% 10 < 7 THEN 'user' || i || '@example.com' ELSE '+1415' || lpad(i::text, 7, '0') END,
                %s, 'en', 1, '', '', %s - make_interval(secs => i * %s / %s), %s, NULL, %s
            FROM generate_series(1, %s) AS i
            """,
            [organization.pk, workflow.pk, livemode, marker, now, span, count, now, now + timedelta(days=29), count],
        )
        cursor.execute(
            f"""
            INSERT INTO {attempts} (invitation_id, number, channel, recipient, livemode, status, tries,
                provider_message_id, provider, error_message, failure_reason, created_at, updated_at,
                accepted_at, delivered_at, requested_by_kind, requested_by_label)
            SELECT id, 1, channel, recipient, livemode,
                CASE WHEN id %% 100 < 88 THEN 'accepted' ELSE 'failed' END, 1, 'pm-' || id,
                CASE WHEN channel = 'email' THEN 'postmark' ELSE 'twilio' END,
                CASE WHEN id %% 100 >= 88 THEN 'failed' ELSE '' END,
                CASE WHEN id %% 100 >= 88 THEN (ARRAY[%s, %s, %s])[1 + id %% 3] ELSE '' END,
                created_at, created_at,
                CASE WHEN id %% 100 < 93 THEN created_at + make_interval(secs => 0.1 + (id %% 29) / 10.0) END,
                CASE WHEN id %% 100 < 80
                    THEN created_at + make_interval(secs => 0.1 + (id %% 29) / 10.0 + 1 + id %% 60) END,
                'system', 'system:bench'
            FROM {invitations} WHERE reference = %s
            """,
            [*grouped, marker],
        )
        cursor.execute(f"VACUUM ANALYZE {invitations}")
        cursor.execute(f"VACUUM ANALYZE {attempts}")
