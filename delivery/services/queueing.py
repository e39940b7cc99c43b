"""Queueing a send: the outbox row in the caller's transaction, its job enqueued after commit.

invitations' services ask for attempts through this module, so it imports nothing of theirs; the
other delivery services import invitations' service modules by their own names
(invitations.services.outcomes), not the package, which may still be loading when they are: the
two apps then import each other's services at module level without a cycle.
"""

from collections.abc import Callable, Sequence

from django.conf import settings
from django.utils import timezone
from rq import Retry

from accounts.principals import Actor
from delivery.models import DeliveryAttempt
from invitations.models import Invitation
from jobs.queueing import enqueue_on_commit

# By dotted path: the jobs module imports the services, not the other way round.
DELIVER_JOB = "delivery.jobs.deliver_attempt"
DELIVER_BATCH_JOB = "delivery.jobs.deliver_attempts"


def delivery_queue_name(*, livemode: bool) -> str:
    """The rq queue a send waits in: live and sandbox sends apart, so sandbox traffic, however much,
    never holds up a live send (the delivery workers take from the live queue first)."""
    return "delivery" if livemode else "delivery-sandbox"


def retry_policy(*, tries_done: int = 0) -> Retry | None:
    """rq's Retry for a job whose attempt has already made `tries_done` provider calls.

    The job makes the next call itself; its retries wait the intervals still ahead, so an attempt
    re-enqueued by the sweeper keeps the backoff it had and never exceeds the total.
    """
    remaining = settings.DELIVERY_RETRY_INTERVALS[tries_done:]
    if not remaining:
        return None
    return Retry(max=len(remaining), interval=list(remaining))


def max_tries() -> int:
    return 1 + len(settings.DELIVERY_RETRY_INTERVALS)


def retry_wait(tries_done: int) -> int:
    """Seconds to wait before the next try after `tries_done` provider calls."""
    intervals = settings.DELIVERY_RETRY_INTERVALS
    if not intervals:
        return 0
    return intervals[min(max(tries_done - 1, 0), len(intervals) - 1)]


def _attempt_for(invitation: Invitation, actor: Actor) -> DeliveryAttempt:
    return DeliveryAttempt(
        invitation=invitation,
        number=invitation.delivery_attempts,
        channel=invitation.channel,
        recipient=invitation.recipient,
        livemode=invitation.livemode,
        requested_by_kind=actor.kind,
        requested_by_label=actor.label,
    )


def delivery_attempts_queue(
    *, invitations: Sequence[Invitation], actor: Actor, on_enqueued: Callable[[bool, int], None] | None = None
) -> list[DeliveryAttempt]:
    """The outbox rows for the invitations' current sends, asked for by ``actor``, in one INSERT in
    the caller's transaction; their jobs go to Redis in one pipeline after commit. A lone send (a
    create, a resend) is its own job and goes at once; many (a bulk resend, reminders) go
    DELIVERY_BATCH_SIZE to a job, each batch claimed, sent and recorded together.

    ``on_enqueued(taken, count)`` hears, after commit, whether Redis took the jobs of these
    ``count`` attempts; when it did not, they stay `queued` for the sweeper.
    """
    attempts = DeliveryAttempt.objects.bulk_create([_attempt_for(invitation, actor) for invitation in invitations])
    for livemode in sorted({attempt.livemode for attempt in attempts}):
        ids = [attempt.pk for attempt in attempts if attempt.livemode == livemode]
        _enqueue(ids, queue_name=delivery_queue_name(livemode=livemode), on_enqueued=on_enqueued)
    return attempts


def _enqueue(ids: list[int], *, queue_name: str, on_enqueued: Callable[[bool, int], None] | None) -> None:
    def heard(taken: bool, _jobs: int) -> None:
        if on_enqueued is not None:
            on_enqueued(taken, len(ids))

    if len(ids) == 1:
        # At the front: a worker runs one job at a time, so a lone send never waits behind another
        # organization's batches of DELIVERY_BATCH_SIZE.
        enqueue_on_commit(
            DELIVER_JOB, ids[0], queue_name=queue_name, on_result=heard, retry=retry_policy(), at_front=True
        )
    else:
        size = settings.DELIVERY_BATCH_SIZE
        enqueue_on_commit(
            DELIVER_BATCH_JOB,
            queue_name=queue_name,
            batch=[(ids[start : start + size],) for start in range(0, len(ids), size)],
            on_result=heard,
        )


def delivery_attempts_cancel(*, invitation_ids: Sequence[int], reason: str = "Canceled with its invitation.") -> int:
    """Cancel the invitations' sends that have not reached a provider (queued, or waiting to retry):
    their jobs find nothing to claim. One already at the provider may finish; it moves nothing."""
    return DeliveryAttempt.objects.filter(
        invitation_id__in=invitation_ids, status__in=(DeliveryAttempt.Status.QUEUED, DeliveryAttempt.Status.RETRYING)
    ).update(status=DeliveryAttempt.Status.CANCELED, error_message=reason, retry_at=None, updated_at=timezone.now())
