"""Scheduled sends (sendAt): a create that asks for one queues nothing until then; the periodic job
(every SCHEDULE_SWEEP_INTERVAL_SECONDS) queues each due first send exactly as a create queues its own,
once, whenever it runs (a worker down at sendAt sends it when it is back)."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.principals import Actor
from api.errors import ValidationFailed
from delivery.services.queueing import delivery_attempts_queue
from invitations.models import Invitation
from invitations.services.transitions import invitations_lock

SCHEDULE_ACTOR = Actor.system("schedule")
BATCH = 500


def send_at_refusal(*, send_at: datetime, now: datetime, expires_at: datetime) -> ValidationFailed | None:
    """ValidationFailed when ``send_at`` is not at least SCHEDULE_MIN_LEAD_SECONDS ahead and before the
    expiry, else None."""
    if send_at < now + timedelta(seconds=settings.SCHEDULE_MIN_LEAD_SECONDS):
        return ValidationFailed(fields={"sendAt": ["Must be at least a minute ahead."]})
    if send_at >= expires_at:
        return ValidationFailed(fields={"sendAt": ["Must be before expiresAt."]})
    return None


def invitations_send_scheduled(*, now: datetime | None = None) -> int:
    """Queue every scheduled first send that is due, BATCH rows a transaction; how many. Rows another
    transaction holds (a cancel, a PATCH) are left for the next run."""
    now = now or timezone.now()
    queued = 0
    while True:
        with transaction.atomic():
            due = Invitation.objects.filter(send_due_at__lte=now, status=Invitation.Status.PENDING).order_by(
                "send_due_at"
            )
            ids = list(due.values_list("pk", flat=True)[:BATCH])
            rows = list(invitations_lock(due.filter(pk__in=ids), skip_locked=True))
            if rows:
                Invitation.objects.filter(pk__in=[row.pk for row in rows]).update(send_due_at=None, updated_at=now)
                for row in rows:
                    row.send_due_at = None
                delivery_attempts_queue(invitations=rows, actor=SCHEDULE_ACTOR)
        queued += len(rows)
        if len(ids) < BATCH or not rows:
            return queued
