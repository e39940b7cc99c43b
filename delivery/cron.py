"""Periodic jobs for rq's cron scheduler: `python manage.py rqcron delivery.cron`: the delivery and
webhook outbox sweeps, invitation.expired events, the request log moved to PostgreSQL and pruned
with the expired idempotency keys, and expired refresh tokens forgotten.

`python manage.py requeue_deliveries` runs the delivery sweep alone, by hand or from a system cron.
"""

from django.conf import settings
from rq import cron

from accounts.jobs import delete_expired_refresh_tokens
from delivery.jobs import sweep_deliveries
from invitations.jobs import announce_expired_invitations
from requestlog.jobs import sweep_request_log
from webhooks.jobs import sweep_webhooks

# (job, interval in seconds, name): each runs on the default queue.
PERIODIC_JOBS = [
    (sweep_deliveries, settings.DELIVERY_SWEEP_INTERVAL_SECONDS, "delivery.sweep"),
    (sweep_webhooks, settings.DELIVERY_SWEEP_INTERVAL_SECONDS, "webhooks.sweep"),
    (announce_expired_invitations, settings.DELIVERY_SWEEP_INTERVAL_SECONDS, "invitations.expired"),
    (sweep_request_log, settings.DELIVERY_SWEEP_INTERVAL_SECONDS, "requestlog.sweep"),
    (delete_expired_refresh_tokens, 3600, "accounts.refresh-tokens"),
]

for job, interval, name in PERIODIC_JOBS:
    cron.register(job, queue_name="default", interval=interval, job_timeout=300, name=name)
