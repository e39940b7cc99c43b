"""Sending one attempt: claim it once, send it (or simulate a sandbox send), report the outcome."""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.principals import Actor
from accounts.selectors import sandbox_recipient_allowed
from billing.services import billing_event_record_send
from delivery import channels
from delivery.models import DeliveryAttempt, ProviderEvent
from delivery.services.events import provider_event_apply, suppress_recipient
from delivery.services.queueing import max_tries, retry_wait
from invitations.services.outcomes import (
    DeliveryOutcome,
    invitation_delivery_accepted,
    invitation_delivery_failed,
    invitation_delivery_wanted,
)
from ops.metrics import DELIVERIES, count_on_commit
from suppressions.models import Suppression
from suppressions.selectors import active_suppression_of_row

logger = logging.getLogger(__name__)

WORKER_ACTOR = Actor.system("delivery")

A = DeliveryAttempt.Status


def delivery_attempt_claim(*, attempt_id: int) -> DeliveryAttempt | None:
    """Take the attempt for sending in one UPDATE; None when another job has it or it is done.

    A `sending` attempt whose claim is older than DELIVERY_SENDING_TIMEOUT_SECONDS lost its worker
    (killed, or its machine died) and may be taken again; the provider sees the same idempotency
    key, and the attempt's ``lost_try_claimed_at`` says when the lost try began (its provider call,
    if it made one, came after). PostgreSQL re-checks the WHERE clause after waiting for a
    concurrent UPDATE, so of two jobs claiming at once exactly one gets the row.
    """
    now = timezone.now()
    claim = {"status": A.SENDING, "claimed_at": now, "updated_at": now, "tries": F("tries") + 1}
    lost_try_claimed_at = None
    claimed = DeliveryAttempt.objects.filter(pk=attempt_id, status__in=(A.QUEUED, A.RETRYING)).update(**claim)
    if not claimed:
        lost_before = now - timedelta(seconds=settings.DELIVERY_SENDING_TIMEOUT_SECONDS)
        with transaction.atomic():
            lost_try_claimed_at = (
                DeliveryAttempt.objects.select_for_update(skip_locked=True)
                .filter(pk=attempt_id, status=A.SENDING, claimed_at__lt=lost_before)
                .values_list("claimed_at", flat=True)
                .first()
            )
            if lost_try_claimed_at is None:
                return None
            DeliveryAttempt.objects.filter(pk=attempt_id).update(**claim)
    # Everything sending and billing need, in one SELECT: the invitation (its state decides whether
    # the send is still wanted), its organization (billed) and its workflow's organization (named in
    # the message).
    # And the reason its recipient is suppressed, if it is (since it was queued, say).
    attempt = (
        DeliveryAttempt.objects.select_related("invitation__organization", "invitation__workflow__organization")
        .annotate(suppressed_as=active_suppression_of_row("reason", organization="invitation__organization_id"))
        .get(pk=attempt_id)
    )
    attempt.lost_try_claimed_at = lost_try_claimed_at
    return attempt


def delivery_attempt_send(*, attempt_id: int) -> DeliveryAttempt | None:
    """Send one attempt. Raises DeliveryError on a transient failure so rq retries it."""
    attempt = delivery_attempt_claim(attempt_id=attempt_id)
    if attempt is None:
        logger.info("Delivery attempt %s already claimed or finished; nothing to do", attempt_id)
        return None
    if attempt.tries > max_tries():
        # Only reachable when workers died mid-send again and again: stop rather than loop.
        return _attempt_failed(
            attempt=attempt,
            error=channels.DeliveryError(f"Gave up after {attempt.tries - 1} tries.", permanent=True),
            final=True,
        )
    if not invitation_delivery_wanted(invitation=attempt.invitation, attempt_number=attempt.number):
        attempt.status = A.CANCELED
        attempt.error_message = "Not sent: a newer send superseded it, or the recipient had already moved on."
        attempt.save(update_fields=["status", "error_message", "updated_at"])
        logger.info("Delivery attempt %s no longer wanted; canceled", attempt_id)
        return attempt
    suppressed_as = getattr(attempt, "suppressed_as", None)
    if suppressed_as:
        # Suppressed after this send was queued (a bounce of another invitation, by hand): never sent.
        reason = Suppression.Reason(suppressed_as).label
        error = channels.DeliveryError(f"Not sent: {attempt.recipient} is suppressed ({reason}).", permanent=True)
        return _attempt_failed(attempt=attempt, error=error, final=True)
    if not attempt.livemode and not sandbox_recipient_allowed(
        organization=attempt.invitation.organization_id, recipient=attempt.recipient
    ):
        logger.info("Delivery attempt %s is a sandbox send off the allow-list; simulated", attempt_id)
        return _attempt_accepted(attempt=attempt, message_id=channels.simulate(attempt), status=A.SIMULATED)
    try:
        message_id = channels.send(attempt)
    except channels.DeliveryError as exc:
        error = exc
    except Exception as exc:
        # An error nobody classified (a bug, an SDK surprise): retry it, bounded by the tries.
        logger.exception("Unexpected error sending delivery attempt %s", attempt_id)
        error = channels.DeliveryError(f"The send failed unexpectedly ({exc.__class__.__name__}).", permanent=False)
    else:
        return _attempt_accepted(attempt=attempt, message_id=message_id)
    final = error.permanent or attempt.tries >= max_tries()
    _attempt_failed(attempt=attempt, error=error, final=final)
    if final:
        return attempt
    raise error


def _attempt_failed(*, attempt: DeliveryAttempt, error: channels.DeliveryError, final: bool) -> DeliveryAttempt:
    now = timezone.now()
    message = str(error) if not final or error.permanent else f"{error} (retries exhausted)"
    attempt.status = A.FAILED if final else A.RETRYING
    attempt.error_message = message
    attempt.retry_at = None if final else now + timedelta(seconds=retry_wait(attempt.tries))
    attempt.failed_at = now if final else None
    if error.unsure and attempt.unsure_since is None:
        attempt.unsure_since = attempt.claimed_at
    with transaction.atomic():
        attempt.save(update_fields=["status", "error_message", "retry_at", "failed_at", "unsure_since", "updated_at"])
        if error.suppress_as:
            suppress_recipient(attempt=attempt, reason=error.suppress_as, description=str(error), actor="delivery")
        count_on_commit(DELIVERIES, channel=attempt.channel, outcome=attempt.status)
        invitation_delivery_failed(
            invitation_id=attempt.invitation_id,
            attempt_number=attempt.number,
            actor=WORKER_ACTOR,
            error_message=message,
            outcome=DeliveryOutcome.PERMANENT_FAILURE if final else DeliveryOutcome.TRANSIENT_FAILURE,
            next_retry_at=attempt.retry_at,
        )
    return attempt


def _attempt_accepted(*, attempt: DeliveryAttempt, message_id: str, status: str = A.ACCEPTED) -> DeliveryAttempt:
    now = timezone.now()
    attempt.status = status
    attempt.provider_message_id = message_id
    attempt.accepted_at = now
    attempt.error_message = ""
    attempt.retry_at = None
    with transaction.atomic():
        attempt.save(
            update_fields=["status", "provider_message_id", "accepted_at", "error_message", "retry_at", "updated_at"]
        )
        count_on_commit(DELIVERIES, channel=attempt.channel, outcome=status)
        invitation_delivery_accepted(
            invitation_id=attempt.invitation_id,
            attempt_number=attempt.number,
            actor=WORKER_ACTOR,
            provider_message_id=message_id,
        )
        billing_event_record_send(
            organization=attempt.invitation.organization,
            channel=attempt.channel,
            livemode=attempt.livemode,
            source_id=f"attempt:{attempt.pk}",
            reference=attempt.invitation.token,
        )
        # Events the provider reported before this acceptance was written apply now, in order; one
        # that named another message id was not about this send after all.
        deferred = attempt.provider_events.filter(outcome=ProviderEvent.Outcome.DEFERRED).order_by(
            F("occurred_at").asc(nulls_last=True), "received_at", "id"
        )
        for event in deferred:
            if event.message_id in ("", message_id):
                event.outcome, event.note = provider_event_apply(attempt=attempt, event=event)
            else:
                event.outcome = ProviderEvent.Outcome.UNMATCHED
                event.note = "Its message id is not the one the provider gave this send."
            event.save(update_fields=["outcome", "note"])
    logger.info("Delivery attempt %s %s by the provider as %s", attempt.pk, status, message_id)
    return attempt
