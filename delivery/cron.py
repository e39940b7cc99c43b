"""Periodic jobs for rq's cron scheduler: `python manage.py rqcron delivery.cron`.

Without it, a system cron running `python manage.py requeue_deliveries` every minute does the same.
"""

from django.conf import settings
from rq import cron

from accounts.jobs import delete_expired_refresh_tokens
from delivery.jobs import sweep_deliveries
from webhooks.jobs import sweep_webhooks

cron.register(
    sweep_deliveries,
    queue_name="default",
    interval=settings.DELIVERY_SWEEP_INTERVAL_SECONDS,
    job_timeout=300,
    name="delivery.sweep",
)
cron.register(
    sweep_webhooks,
    queue_name="default",
    interval=settings.DELIVERY_SWEEP_INTERVAL_SECONDS,
    job_timeout=300,
    name="webhooks.sweep",
)
cron.register(
    delete_expired_refresh_tokens, queue_name="default", interval=3600, job_timeout=300, name="accounts.refresh-tokens"
)
