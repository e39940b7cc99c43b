"""Periodic jobs for rq's cron scheduler: `python manage.py rqcron jobs.cron`: the delivery and
webhook outbox sweeps, the delivery health rollups, invitation.expired events, automatic reminders
and expiry warnings, scheduled sends, the request log moved to PostgreSQL and pruned with the
expired idempotency keys, and expired refresh tokens forgotten.

Each is named by its dotted path and imported when it runs, so this schedule imports none of the
apps it serves. `python manage.py requeue_deliveries` runs the delivery sweep alone, by hand.
"""

from django.conf import settings
from django.utils.module_loading import import_string
from rq import cron

from jobs.workers import database_job


@database_job
def run_periodic(path: str):
    """The periodic job at ``path``, run on the `default` queue."""
    return import_string(path)()


# (job, interval in seconds, name): each runs on the default queue.
PERIODIC_JOBS = [
    ("delivery.jobs.sweep_deliveries", settings.DELIVERY_SWEEP_INTERVAL_SECONDS, "delivery.sweep"),
    ("webhooks.jobs.sweep_webhooks", settings.DELIVERY_SWEEP_INTERVAL_SECONDS, "webhooks.sweep"),
    ("invitations.jobs.announce_expired_invitations", settings.DELIVERY_SWEEP_INTERVAL_SECONDS, "invitations.expired"),
    ("invitations.jobs.send_due_reminders", settings.REMINDER_SWEEP_INTERVAL_SECONDS, "invitations.reminders"),
    ("invitations.jobs.send_scheduled", settings.SCHEDULE_SWEEP_INTERVAL_SECONDS, "invitations.scheduled"),
    ("delivery.jobs.refresh_delivery_stats", settings.DELIVERY_STATS_INTERVAL_SECONDS or 60, "delivery.stats"),
    ("requestlog.jobs.sweep_request_log", settings.DELIVERY_SWEEP_INTERVAL_SECONDS, "requestlog.sweep"),
    ("accounts.jobs.delete_expired_refresh_tokens", 3600, "accounts.refresh-tokens"),
]

for path, interval, name in PERIODIC_JOBS:
    cron.register(run_periodic, queue_name="default", args=(path,), interval=interval, job_timeout=300, name=name)
