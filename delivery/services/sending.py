"""Sending: claim an attempt once (or a batch at once), send it (or simulate a sandbox send),
the provider calls of a batch overlapping, and report the outcomes, a batch's acceptances together."""

import logging
from collections import Counter
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.principals import Actor
from accounts.selectors import sandbox_recipient_allowed
from billing.services import SendToBill, billing_event_record_send, billing_events_record_sends
from delivery import channels, simulator
from delivery.health import failure_reason
from delivery.models import DeliveryAttempt, ProviderEvent
from delivery.services.calls import provider_calls, record_handovers
from delivery.services.events import provider_event_apply, suppress_recipient
from delivery.services.queueing import DELIVER_JOB, delivery_queue_name, max_tries, retry_policy, retry_wait
from invitations.services.outcomes import (
    DeliveryOutcome,
    invitation_delivery_failed,
    invitation_delivery_wanted,
    invitations_delivery_accepted,
)
from jobs.queueing import enqueue_on_commit
from ops.metrics import DELIVERIES, count_on_commit
from suppressions.models import Suppression
from suppressions.selectors import active_suppression_of_row

logger = logging.getLogger(__name__)

WORKER_ACTOR = Actor.system("delivery")

Attempt = DeliveryAttempt.Status


def delivery_attempt_claim(*, attempt_id: int) -> DeliveryAttempt | None:
    """Take the attempt for sending in one UPDATE; None when another job has it or it is done.

    A `sending` attempt whose claim is older than DELIVERY_SENDING_TIMEOUT_SECONDS lost its worker
    (killed, or its machine died) and may be taken again; the provider sees the same idempotency
    key, and the attempt's ``lost_try_claimed_at`` says when the lost try began (its provider call,
    if it made one, came after). PostgreSQL re-checks the WHERE clause after waiting for a
    concurrent UPDATE, so of two jobs claiming at once exactly one gets the row.
    """
    now = timezone.now()
    claim = {"status": Attempt.SENDING, "claimed_at": now, "updated_at": now, "tries": F("tries") + 1}
    lost_try_claimed_at = None
    claimed = DeliveryAttempt.objects.filter(pk=attempt_id, status__in=(Attempt.QUEUED, Attempt.RETRYING)).update(
        **claim
    )
    if not claimed:
        lost_before = now - timedelta(seconds=settings.DELIVERY_SENDING_TIMEOUT_SECONDS)
        with transaction.atomic():
            lost_try_claimed_at = (
                DeliveryAttempt.objects.select_for_update(skip_locked=True)
                .filter(pk=attempt_id, status=Attempt.SENDING, claimed_at__lt=lost_before)
                .values_list("claimed_at", flat=True)
                .first()
            )
            if lost_try_claimed_at is None:
                return None
            DeliveryAttempt.objects.filter(pk=attempt_id).update(**claim)
    attempt = _claimed([attempt_id])[0]
    attempt.lost_try_claimed_at = lost_try_claimed_at
    return attempt


def _claimed(attempt_ids: list[int]) -> list[DeliveryAttempt]:
    """The claimed attempts with everything sending and billing need, in one SELECT: the invitation
    (its state decides whether the send is still wanted), its organization (billed), its workflow's
    organization (named in the message), and the reason its recipient is suppressed, if it is (since
    it was queued, say)."""
    return list(
        DeliveryAttempt.objects.select_related("invitation__organization", "invitation__workflow__organization")
        .annotate(suppressed_as=active_suppression_of_row("reason", organization="invitation__organization_id"))
        .filter(pk__in=attempt_ids)
        .order_by("pk")
    )


def delivery_attempts_claim(*, attempt_ids: list[int]) -> list[DeliveryAttempt]:
    """Take a batch of attempts for sending in one UPDATE: those still queued or waiting to retry,
    and those `sending` under a claim older than DELIVERY_SENDING_TIMEOUT_SECONDS (their worker was
    lost: each keeps ``lost_try_claimed_at``, as ``delivery_attempt_claim`` gives it). The others
    (another job has them, or they are done) are left out."""
    claimed = _claim_many(attempt_ids, timezone.now())
    if not claimed:
        return []
    attempts = _claimed(list(claimed))
    for attempt in attempts:
        attempt.lost_try_claimed_at = claimed[attempt.pk]
    return attempts


def _claim_many(attempt_ids: list[int], now: datetime) -> dict[int, datetime | None]:
    """The ids moved to `sending` by this claim, exactly those however many jobs claim at once, each
    with the claim a lost worker left on it (or None). The claimable rows are locked first, skipping
    any that another claim holds, then moved."""
    lost_before = now - timedelta(seconds=settings.DELIVERY_SENDING_TIMEOUT_SECONDS)
    waiting = Q(status__in=(Attempt.QUEUED, Attempt.RETRYING))
    lost = Q(status=Attempt.SENDING, claimed_at__lt=lost_before)
    with transaction.atomic():
        claimable = {
            pk: claimed_at if status == Attempt.SENDING else None
            for pk, status, claimed_at in DeliveryAttempt.objects.select_for_update(skip_locked=True)
            .filter(waiting | lost, pk__in=attempt_ids)
            .values_list("pk", "status", "claimed_at")
        }
        DeliveryAttempt.objects.filter(pk__in=claimable).update(
            status=Attempt.SENDING, claimed_at=now, updated_at=now, tries=F("tries") + 1
        )
    return claimable


def delivery_attempt_send(*, attempt_id: int) -> DeliveryAttempt | None:
    """Send one attempt. Raises DeliveryError on a transient failure so rq retries it (the job's
    Retry carries the backoff)."""
    attempt = delivery_attempt_claim(attempt_id=attempt_id)
    if attempt is None:
        logger.info("Delivery attempt %s already claimed or finished; nothing to do", attempt_id)
        return None
    [(attempt, retry)] = _send_claimed([attempt])
    if retry is not None:
        raise retry
    return attempt


def delivery_attempts_send(*, attempt_ids: list[int]) -> list[DeliveryAttempt]:
    """Send a batch: claimed in one UPDATE, loaded in one SELECT, the provider calls overlapping
    (DELIVERY_CONCURRENCY per process), the acceptances written in one transaction. A transient
    failure gets a job of its own, scheduled after its backoff with rq's Retry for the rest."""
    attempts = delivery_attempts_claim(attempt_ids=attempt_ids)
    for attempt, retry in _send_claimed(attempts):
        if retry is not None:
            enqueue_on_commit(
                DELIVER_JOB,
                attempt.pk,
                queue_name=delivery_queue_name(livemode=attempt.livemode),
                delay=retry_wait(attempt.tries),
                retry=retry_policy(tries_done=attempt.tries),
            )
    return attempts


def _send_claimed(attempts: list[DeliveryAttempt]) -> list[tuple[DeliveryAttempt, channels.DeliveryError | None]]:
    """Settle each claimed attempt: not sent (no longer wanted, suppressed, out of tries), simulated
    (a sandbox send off the allow-list), or sent; the accepted ones recorded together. Each comes
    back with the transient error a retry should follow, or None."""
    settled: list[tuple[DeliveryAttempt, channels.DeliveryError | None]] = []
    accepted: list[tuple[DeliveryAttempt, str, str]] = []
    to_send: list[DeliveryAttempt] = []
    stories: list[DeliveryAttempt] = []
    for attempt in attempts:
        skip = _settle_unsendable(attempt)
        story = simulator.story_of(attempt) if skip is None else None
        if skip is not None:
            settled.append((attempt, None))
        elif story is not None:
            attempt.provider = simulator.PROVIDER
            try:
                accepted.append((attempt, simulator.simulated_send(attempt, story), Attempt.SIMULATED))
                stories += [attempt] if story.events else []
            except channels.DeliveryError as error:
                final = error.permanent or attempt.tries >= max_tries()
                _attempt_failed(attempt=attempt, error=error, final=final)
                settled.append((attempt, None if final else error))
        elif not attempt.livemode and not sandbox_recipient_allowed(
            organization=attempt.invitation.organization_id, recipient=attempt.recipient
        ):
            logger.info("Delivery attempt %s is a sandbox send off the allow-list; simulated", attempt.pk)
            attempt.provider = simulator.PROVIDER
            accepted.append((attempt, channels.simulate(attempt), Attempt.SIMULATED))
        else:
            to_send.append(attempt)
    called = provider_calls(to_send)
    record_handovers(to_send)
    for attempt, outcome in zip(to_send, called, strict=True):
        if isinstance(outcome, str):
            accepted.append((attempt, outcome, Attempt.ACCEPTED))
            continue
        final = outcome.permanent or attempt.tries >= max_tries()
        _attempt_failed(attempt=attempt, error=outcome, final=final)
        settled.append((attempt, None if final else outcome))
    if accepted:
        _attempts_accepted(accepted)
        settled += [(attempt, None) for attempt, _message_id, _status in accepted]
    for attempt in stories:
        # What the simulated provider reports after acceptance, as its webhooks would: after commit.
        enqueue_on_commit(STORY_JOB, attempt.pk, queue_name=delivery_queue_name(livemode=False))
    return settled


def _settle_unsendable(attempt: DeliveryAttempt) -> DeliveryAttempt | None:
    """Settle an attempt that must not reach the provider; None when it may go."""
    if attempt.tries > max_tries():
        # Only reachable when workers died mid-send again and again: stop rather than loop.
        error = channels.DeliveryError(f"Gave up after {attempt.tries - 1} tries.", permanent=True)
        return _attempt_failed(attempt=attempt, error=error, final=True)
    if not invitation_delivery_wanted(invitation=attempt.invitation, attempt_number=attempt.number):
        attempt.status = Attempt.CANCELED
        attempt.error_message = "Not sent: a newer send superseded it, or the recipient had already moved on."
        attempt.save(update_fields=["status", "error_message", "updated_at"])
        logger.info("Delivery attempt %s no longer wanted; canceled", attempt.pk)
        return attempt
    suppressed_as = getattr(attempt, "suppressed_as", None)
    if suppressed_as:
        # Suppressed after this send was queued (a bounce of another invitation, by hand): never sent.
        reason = Suppression.Reason(suppressed_as).label
        error = channels.DeliveryError(f"Not sent: {attempt.recipient} is suppressed ({reason}).", permanent=True)
        return _attempt_failed(attempt=attempt, error=error, final=True)
    return None


def _attempt_failed(*, attempt: DeliveryAttempt, error: channels.DeliveryError, final: bool) -> DeliveryAttempt:
    now = timezone.now()
    message = str(error) if not final or error.permanent else f"{error} (retries exhausted)"
    attempt.status = Attempt.FAILED if final else Attempt.RETRYING
    attempt.error_message = message
    attempt.failure_reason = failure_reason(message)
    attempt.retry_at = None if final else now + timedelta(seconds=retry_wait(attempt.tries))
    attempt.failed_at = now if final else None
    if attempt.unsure_since is None:
        # A try that may have reached the provider (this one, or one lost with its worker) is looked
        # for before the next one sends.
        attempt.unsure_since = getattr(attempt, "lost_try_claimed_at", None) or (
            attempt.claimed_at if error.unsure else None
        )
    with transaction.atomic():
        attempt.save(
            update_fields=[
                "status",
                "provider",
                "error_message",
                "failure_reason",
                "retry_at",
                "failed_at",
                "unsure_since",
                "updated_at",
            ]
        )
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


ACCEPTED_FIELDS = [
    "status",
    "provider",
    "provider_message_id",
    "accepted_at",
    "error_message",
    "failure_reason",
    "retry_at",
    "updated_at",
]
STORY_JOB = "delivery.jobs.play_story"


def _attempts_accepted(accepted: list[tuple[DeliveryAttempt, str, str]]) -> None:
    """The provider took these messages: in one transaction, the attempts, their invitations `sent`
    (one UPDATE, one INSERT of audit rows, one of webhook events), each live send billed once, and
    the events the provider reported before this was written applied now."""
    now = timezone.now()
    attempts = [attempt for attempt, _message_id, _status in accepted]
    for attempt, message_id, status in accepted:
        attempt.status = status
        attempt.provider_message_id = message_id
        attempt.accepted_at = now
        attempt.updated_at = now
        attempt.error_message = attempt.failure_reason = ""
        attempt.retry_at = None
    with transaction.atomic():
        if len(attempts) == 1:
            attempts[0].save(update_fields=ACCEPTED_FIELDS)
        else:
            # What the attempts share in one UPDATE per status; only the message id differs per row
            # (bulk_update writes a CASE for each row and field it is given: one field here).
            for status, provider in {(attempt.status, attempt.provider) for attempt in attempts}:
                same = [a.pk for a in attempts if (a.status, a.provider) == (status, provider)]
                DeliveryAttempt.objects.filter(pk__in=same).update(
                    status=status,
                    provider=provider,
                    accepted_at=now,
                    updated_at=now,
                    error_message="",
                    failure_reason="",
                    retry_at=None,
                )
            DeliveryAttempt.objects.bulk_update(attempts, ["provider_message_id"])
        for (channel, status), count in Counter((a.channel, a.status) for a in attempts).items():
            count_on_commit(DELIVERIES, count, channel=channel, outcome=status)
        invitations_delivery_accepted(
            accepted=[(a.invitation_id, a.number, a.provider_message_id) for a in attempts], actor=WORKER_ACTOR
        )
        bills = [
            SendToBill(
                organization=attempt.invitation.organization,
                channel=attempt.channel,
                livemode=attempt.livemode,
                source_id=f"attempt:{attempt.pk}",
                reference=attempt.invitation.token,
            )
            for attempt in attempts
        ]
        if len(bills) == 1:
            billing_event_record_send(**vars(bills[0]))
        else:
            billing_events_record_sends(sends=bills)
        _apply_deferred(attempts)
    for attempt in attempts:
        logger.info(
            "Delivery attempt %s %s by the provider as %s", attempt.pk, attempt.status, attempt.provider_message_id
        )


def _apply_deferred(attempts: list[DeliveryAttempt]) -> None:
    """Events the provider reported before the acceptances were written apply now, in order; one that
    named another message id was not about its send after all."""
    by_id = {attempt.pk: attempt for attempt in attempts}
    deferred = ProviderEvent.objects.filter(attempt_id__in=by_id, outcome=ProviderEvent.Outcome.DEFERRED).order_by(
        F("occurred_at").asc(nulls_last=True), "received_at", "id"
    )
    for event in deferred:
        attempt = by_id[event.attempt_id or 0]
        if event.message_id in ("", attempt.provider_message_id):
            event.outcome, event.note = provider_event_apply(attempt=attempt, event=event)
        else:
            event.outcome = ProviderEvent.Outcome.UNMATCHED
            event.note = "Its message id is not the one the provider gave this send."
        event.save(update_fields=["outcome", "note"])
