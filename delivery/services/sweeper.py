"""The outbox sweeper: enqueue again the attempts Redis lost, whose retry is overdue, or whose
worker vanished mid-send."""

import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from delivery.models import DeliveryAttempt
from delivery.selectors import delivery_attempts_stale
from delivery.services.queueing import DELIVER_BATCH_JOB, delivery_queue_name
from jobs.queueing import enqueue_now

logger = logging.getLogger(__name__)


@dataclass
class SweepResult:
    queued: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    sending: list[int] = field(default_factory=list)
    not_enqueued: list[int] = field(default_factory=list)

    @property
    def found(self) -> int:
        return len(self.queued) + len(self.retrying) + len(self.sending)

    @property
    def enqueued(self) -> int:
        return self.found - len(self.not_enqueued)


def delivery_attempts_requeue_stale(*, dry_run: bool = False, limit: int = 1000, batch_size: int = 200) -> SweepResult:
    """Enqueue again every attempt that should be moving and is not.

    A `queued` attempt past the grace period (Redis was down at commit, or the job was lost), a
    `retrying` one whose retry is overdue, and a `sending` one whose worker vanished. A duplicate
    job is harmless: the claim lets one through. Enqueued rows are touched so the next sweep waits
    another grace period before trying them again; rows Redis would not take stay as they are.
    """
    now = timezone.now()
    result = SweepResult()
    stale = list(delivery_attempts_stale(now=now).only("id", "status", "tries", "updated_at", "livemode")[:limit])
    by_status: dict[str, list[int]] = {
        DeliveryAttempt.Status.QUEUED: result.queued,
        DeliveryAttempt.Status.RETRYING: result.retrying,
        DeliveryAttempt.Status.SENDING: result.sending,
    }
    for attempt in stale:
        by_status[attempt.status].append(attempt.pk)
    if dry_run:
        return result
    size = settings.DELIVERY_BATCH_SIZE
    # As batches, so a backlog waiting for its jobs costs a job per batch, not per send; a lost
    # worker's sends are taken over the same way (``delivery_attempts_claim``), each provider asked
    # first whether the lost try reached it.
    for livemode in (True, False):
        of_mode = [attempt for attempt in stale if attempt.livemode == livemode]
        for start in range(0, len(of_mode), batch_size):
            chunk = of_mode[start : start + batch_size]
            ids = [attempt.pk for attempt in chunk]
            batch = [(ids[i : i + size],) for i in range(0, len(ids), size)]
            _requeue(
                result, chunk, now, DELIVER_BATCH_JOB, queue_name=delivery_queue_name(livemode=livemode), batch=batch
            )
    if result.found:
        logger.info(
            "Sweeper: %d queued, %d retrying, %d stuck sending; %d not enqueued",
            len(result.queued),
            len(result.retrying),
            len(result.sending),
            len(result.not_enqueued),
        )
    return result


def _requeue(
    result: SweepResult, attempts: list[DeliveryAttempt], now, job: str, *, queue_name: str, **options
) -> None:
    """Enqueue these attempts' jobs; touch the rows nobody moved meanwhile (a worker may already
    have claimed one), so the next sweep waits another grace period before trying them again."""
    if not enqueue_now(job, queue_name=queue_name, **options):
        result.not_enqueued.extend(attempt.pk for attempt in attempts)
        return
    touched = Q()
    for attempt in attempts:
        touched |= Q(pk=attempt.pk, status=attempt.status, updated_at=attempt.updated_at)
    DeliveryAttempt.objects.filter(touched).update(updated_at=now)
