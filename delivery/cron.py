"""Periodic jobs for rq's cron scheduler: `python manage.py rqcron delivery.cron`: the delivery and
webhook outbox sweeps, invitation.expired events, and expired refresh tokens forgotten.

`python manage.py requeue_deliveries` runs the delivery sweep alone, by hand or from a system cron.
"""

from django.conf import settings
from rq import cron

from accounts.jobs import delete_expired_refresh_tokens
from delivery.jobs import sweep_deliveries
from invitations.jobs import announce_expired_invitations
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
    announce_expired_invitations,
    queue_name="default",
    interval=settings.DELIVERY_SWEEP_INTERVAL_SECONDS,
    job_timeout=300,
    name="invitations.expired",
)
cron.register(
    delete_expired_refresh_tokens, queue_name="default", interval=3600, job_timeout=300, name="accounts.refresh-tokens"
)
