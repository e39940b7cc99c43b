"""Delivery attempts: queue one after commit, claim it once, send it, report the outcome."""

import logging
from collections.abc import Callable, Sequence

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from rq import Retry

from accounts.principals import Actor
from billing.services import billing_event_record_send
from delivery import channels
from delivery.models import DeliveryAttempt
from invitations.models import Invitation
from invitations_project.queueing import enqueue_many_on_commit, enqueue_on_commit

logger = logging.getLogger(__name__)

WORKER_ACTOR = Actor.system("delivery")


def retry_policy() -> Retry:
    intervals = settings.DELIVERY_RETRY_INTERVALS
    return Retry(max=len(intervals), interval=intervals)


def delivery_attempt_enqueue(*, attempt_id: int) -> None:
    from delivery.jobs import deliver_attempt

    enqueue_on_commit(deliver_attempt, attempt_id, queue_name="delivery", retry=retry_policy())


def delivery_attempt_queue(*, invitation: Invitation) -> DeliveryAttempt:
    """Write the outbox row for the invitation's current send; its job is enqueued after commit."""
    attempt = DeliveryAttempt.objects.create(
        invitation=invitation,
        number=invitation.delivery_attempts,
        channel=invitation.channel,
        recipient=invitation.recipient,
        livemode=invitation.livemode,
    )
    delivery_attempt_enqueue(attempt_id=attempt.pk)
    return attempt


def delivery_attempt_queue_many(
    *, invitations: Sequence[Invitation], on_enqueued: Callable[[bool, int], None] | None = None
) -> list[DeliveryAttempt]:
    """``delivery_attempt_queue`` for many invitations: one INSERT, and one Redis pipeline after commit.

    ``on_enqueued(taken, count)`` hears, after commit, whether Redis took the jobs; when it did not,
    the attempts stay `queued` for the sweeper.
    """
    from delivery.jobs import deliver_attempt

    attempts = DeliveryAttempt.objects.bulk_create(
        [
            DeliveryAttempt(
                invitation=invitation,
                number=invitation.delivery_attempts,
                channel=invitation.channel,
                recipient=invitation.recipient,
                livemode=invitation.livemode,
            )
            for invitation in invitations
        ]
    )
    enqueue_many_on_commit(
        deliver_attempt,
        [(attempt.pk,) for attempt in attempts],
        queue_name="delivery",
        on_result=on_enqueued,
        retry=retry_policy(),
    )
    return attempts


def delivery_attempt_claim(*, attempt_id: int) -> DeliveryAttempt | None:
    """Take the attempt for sending in one UPDATE; None when another job has it or it is done."""
    now = timezone.now()
    claimed = DeliveryAttempt.objects.filter(
        pk=attempt_id, status__in=(DeliveryAttempt.Status.QUEUED, DeliveryAttempt.Status.RETRYING)
    ).update(status=DeliveryAttempt.Status.SENDING, claimed_at=now, updated_at=now, tries=F("tries") + 1)
    if not claimed:
        return None
    return DeliveryAttempt.objects.select_related("invitation__workflow__organization").get(pk=attempt_id)


def _max_tries() -> int:
    return 1 + len(settings.DELIVERY_RETRY_INTERVALS)


def delivery_attempt_send(*, attempt_id: int) -> DeliveryAttempt | None:
    """Send one attempt. Raises DeliveryError on a transient failure so rq retries it."""
    from invitations.services import invitation_delivery_accepted, invitation_delivery_failed

    attempt = delivery_attempt_claim(attempt_id=attempt_id)
    if attempt is None:
        logger.info("Delivery attempt %s already claimed or finished; nothing to do", attempt_id)
        return None
    try:
        message_id = channels.send(attempt)
    except channels.DeliveryError as exc:
        final = exc.permanent or attempt.tries >= _max_tries()
        attempt.status = DeliveryAttempt.Status.FAILED if final else DeliveryAttempt.Status.RETRYING
        attempt.error_message = str(exc)
        with transaction.atomic():
            attempt.save(update_fields=["status", "error_message", "updated_at"])
            invitation_delivery_failed(
                invitation_id=attempt.invitation_id,
                actor=WORKER_ACTOR,
                error_message=str(exc) if not final or exc.permanent else f"{exc} (retries exhausted)",
                permanent=final,
            )
        if final:
            return attempt
        raise
    now = timezone.now()
    attempt.status = DeliveryAttempt.Status.ACCEPTED
    attempt.provider_message_id = message_id
    attempt.accepted_at = now
    attempt.error_message = ""
    with transaction.atomic():
        attempt.save(update_fields=["status", "provider_message_id", "accepted_at", "error_message", "updated_at"])
        invitation_delivery_accepted(
            invitation_id=attempt.invitation_id, actor=WORKER_ACTOR, provider_message_id=message_id
        )
        billing_event_record_send(
            organization=attempt.invitation.organization,
            channel=attempt.channel,
            livemode=attempt.livemode,
            source_id=f"attempt:{attempt.pk}",
            reference=attempt.invitation.token,
        )
    return attempt
