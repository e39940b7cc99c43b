"""Delivery attempts: queue one after commit, claim it once, send it, report the outcome; sweep the
outbox for work Redis lost; apply what providers report afterwards."""

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from rq import Retry

from accounts.principals import Actor
from accounts.selectors import sandbox_recipient_allowed
from billing.services import billing_event_record_send
from delivery import channels
from delivery.models import DeliveryAttempt, ProviderEvent
from delivery.selectors import delivery_attempts_stale
from invitations.models import Invitation
from invitations_project.errors import InvalidRequest
from invitations_project.queueing import (
    enqueue_later_on_commit,
    enqueue_many_now,
    enqueue_many_on_commit,
    enqueue_on_commit,
)

logger = logging.getLogger(__name__)

WORKER_ACTOR = Actor.system("delivery")

A = DeliveryAttempt.Status
S = Invitation.Status


# --- Queueing ------------------------------------------------------------------------------------


def retry_policy(*, tries_done: int = 0) -> Retry | None:
    """rq's Retry for a job whose attempt has already made `tries_done` provider calls.

    The job makes the next call itself; its retries wait the intervals still ahead, so an attempt
    re-enqueued by the sweeper keeps the backoff it had and never exceeds the total.
    """
    remaining = settings.DELIVERY_RETRY_INTERVALS[tries_done:]
    if not remaining:
        return None
    return Retry(max=len(remaining), interval=list(remaining))


def _max_tries() -> int:
    return 1 + len(settings.DELIVERY_RETRY_INTERVALS)


def _retry_wait(tries_done: int) -> int:
    """Seconds to wait before the next try after `tries_done` provider calls."""
    intervals = settings.DELIVERY_RETRY_INTERVALS
    if not intervals:
        return 0
    return intervals[min(max(tries_done - 1, 0), len(intervals) - 1)]


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


# --- Sending -------------------------------------------------------------------------------------


def delivery_attempt_claim(*, attempt_id: int) -> DeliveryAttempt | None:
    """Take the attempt for sending in one UPDATE; None when another job has it or it is done.

    A `sending` attempt whose claim is older than DELIVERY_SENDING_TIMEOUT_SECONDS lost its worker
    (killed, or its machine died) and may be taken again; the provider sees the same idempotency
    key. PostgreSQL re-checks the WHERE clause after waiting for a concurrent UPDATE, so of two jobs
    claiming at once exactly one gets the row.
    """
    now = timezone.now()
    lost_before = now - timedelta(seconds=settings.DELIVERY_SENDING_TIMEOUT_SECONDS)
    claimable = Q(status__in=(A.QUEUED, A.RETRYING)) | Q(status=A.SENDING, claimed_at__lt=lost_before)
    claimed = DeliveryAttempt.objects.filter(claimable, pk=attempt_id).update(
        status=A.SENDING, claimed_at=now, updated_at=now, tries=F("tries") + 1
    )
    if not claimed:
        return None
    # Everything sending and billing need, in one SELECT: the invitation (its state decides whether
    # the send is still wanted), its organization (billed) and its workflow's organization (named in
    # the message).
    return DeliveryAttempt.objects.select_related("invitation__organization", "invitation__workflow__organization").get(
        pk=attempt_id
    )


def delivery_attempt_send(*, attempt_id: int) -> DeliveryAttempt | None:
    """Send one attempt. Raises DeliveryError on a transient failure so rq retries it."""
    from invitations.services import invitation_delivery_wanted

    attempt = delivery_attempt_claim(attempt_id=attempt_id)
    if attempt is None:
        logger.info("Delivery attempt %s already claimed or finished; nothing to do", attempt_id)
        return None
    if attempt.tries > _max_tries():
        # Only reachable when workers died mid-send again and again: stop rather than loop.
        return _attempt_failed(
            attempt=attempt,
            error=channels.DeliveryError(f"Gave up after {attempt.tries - 1} tries", permanent=True),
            final=True,
        )
    if not invitation_delivery_wanted(invitation=attempt.invitation, attempt_number=attempt.number):
        attempt.status = A.CANCELLED
        attempt.error_message = "Not sent: a newer send superseded it, or the recipient had already moved on."
        attempt.save(update_fields=["status", "error_message", "updated_at"])
        logger.info("Delivery attempt %s no longer wanted; cancelled", attempt_id)
        return attempt
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
        error = channels.DeliveryError(f"Unexpected delivery error: {exc.__class__.__name__}: {exc}", permanent=False)
    else:
        return _attempt_accepted(attempt=attempt, message_id=message_id)
    final = error.permanent or attempt.tries >= _max_tries()
    _attempt_failed(attempt=attempt, error=error, final=final)
    if final:
        return attempt
    raise error


def _attempt_failed(*, attempt: DeliveryAttempt, error: channels.DeliveryError, final: bool) -> DeliveryAttempt:
    from invitations.services import invitation_delivery_failed

    now = timezone.now()
    message = str(error) if not final or error.permanent else f"{error} (retries exhausted)"
    attempt.status = A.FAILED if final else A.RETRYING
    attempt.error_message = message
    attempt.retry_at = None if final else now + timedelta(seconds=_retry_wait(attempt.tries))
    with transaction.atomic():
        attempt.save(update_fields=["status", "error_message", "retry_at", "updated_at"])
        invitation_delivery_failed(
            invitation_id=attempt.invitation_id,
            attempt_number=attempt.number,
            actor=WORKER_ACTOR,
            error_message=message,
            permanent=final,
        )
    return attempt


def _attempt_accepted(*, attempt: DeliveryAttempt, message_id: str, status: str = A.ACCEPTED) -> DeliveryAttempt:
    from invitations.services import invitation_delivery_accepted

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
                event.outcome, event.note = _provider_event_apply(attempt=attempt, event=event)
            else:
                event.outcome = ProviderEvent.Outcome.UNMATCHED
                event.note = "Its message id is not the one the provider gave this send."
            event.save(update_fields=["outcome", "note"])
    return attempt


# --- The outbox sweeper --------------------------------------------------------------------------


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
    from delivery.jobs import deliver_attempt

    now = timezone.now()
    result = SweepResult()
    stale = list(delivery_attempts_stale(now=now).only("id", "status", "tries", "updated_at")[:limit])
    for attempt in stale:
        {A.QUEUED: result.queued, A.RETRYING: result.retrying, A.SENDING: result.sending}[attempt.status].append(
            attempt.pk
        )
    if dry_run:
        return result
    for start in range(0, len(stale), batch_size):
        batch = stale[start : start + batch_size]
        taken = enqueue_many_now(
            deliver_attempt,
            [(attempt.pk,) for attempt in batch],
            queue_name="delivery",
            per_job_options=[{"retry": retry_policy(tries_done=attempt.tries)} for attempt in batch],
        )
        if not taken:
            result.not_enqueued.extend(attempt.pk for attempt in batch)
            continue
        # Only rows nobody moved meanwhile: a worker may already have claimed one.
        touched = Q()
        for attempt in batch:
            touched |= Q(pk=attempt.pk, status=attempt.status, updated_at=attempt.updated_at)
        DeliveryAttempt.objects.filter(touched).update(updated_at=now)
    if result.found:
        logger.info(
            "Sweeper: %d queued, %d retrying, %d stuck sending; %d not enqueued",
            len(result.queued),
            len(result.retrying),
            len(result.sending),
            len(result.not_enqueued),
        )
    return result


# --- Provider events -----------------------------------------------------------------------------

KIND_STATUS = {"delivered": S.DELIVERED, "opened": S.OPENED, "failed": S.FAILED}
# A description longer than this (1 KB) is cut: providers' own texts are a sentence or two.
EVENT_TEXT_MAX = 1024
EARLIEST_EVENT_TIME = datetime(2000, 1, 1, tzinfo=UTC)


def _attempt_for_event(
    *, channel: str, message_id: str, attempt_hint: str, hint_token: str | None
) -> DeliveryAttempt | None:
    """The attempt an event is about: the one whose recorded provider message id it names.

    The attempt id echoed back from our send (email metadata, the SMS callback URL) only helps while
    that attempt has no message id recorded yet (the event outran our record of the acceptance); it
    never picks an attempt whose recorded id differs. Email metadata travels in the event's body, so
    it must also name the attempt's invitation token, which nobody outside the send knows;
    ``hint_token`` None means the hint came signed by the provider (Twilio signs the callback URL).
    """
    # Lock the attempt: its acceptance being written, and other events of the same message,
    # decide whether this event applies now or waits.
    attempts = DeliveryAttempt.objects.select_for_update(of=("self",)).filter(channel=channel)
    attempt = attempts.filter(provider_message_id=message_id).first() if message_id else None
    if attempt is None and attempt_hint.isdigit() and len(attempt_hint) < 19:
        candidates = attempts.filter(pk=int(attempt_hint), provider_message_id="")
        if hint_token is not None:
            candidates = candidates.filter(invitation__token=hint_token) if hint_token else candidates.none()
        attempt = candidates.first()
    return attempt


def _provider_event_apply(*, attempt: DeliveryAttempt, event: ProviderEvent) -> tuple[str, str]:
    """Apply one event of an accepted attempt to its invitation; return (outcome, note)."""
    from invitations.services import invitation_delivery_event

    to_status = KIND_STATUS.get(event.kind)
    if to_status is None:
        return ProviderEvent.Outcome.IGNORED, "Informational event."
    final = event.permanent or attempt.tries >= _max_tries()
    message = event.description
    if to_status == S.FAILED and final and not event.permanent:
        message = f"{message} (retries exhausted)"
    changed = invitation_delivery_event(
        invitation_id=attempt.invitation_id,
        attempt_number=attempt.number,
        to_status=to_status,
        actor=Actor.system(event.provider),
        message=message,
        permanent=final,
    )
    if not changed:
        return ProviderEvent.Outcome.IGNORED, "An older attempt, or the invitation is already further along."
    if to_status == S.FAILED:
        now = timezone.now()
        attempt.error_message = message
        if final:
            attempt.status = A.FAILED
            attempt.retry_at = None
        else:
            # The provider accepted the message and then could not send it: try again later.
            from delivery.jobs import deliver_attempt

            wait = _retry_wait(attempt.tries)
            attempt.status = A.RETRYING
            attempt.retry_at = now + timedelta(seconds=wait)
            enqueue_later_on_commit(
                wait, deliver_attempt, attempt.pk, queue_name="delivery", retry=retry_policy(tries_done=attempt.tries)
            )
        attempt.save(update_fields=["status", "error_message", "retry_at", "updated_at"])
    return ProviderEvent.Outcome.APPLIED, ""


def delivery_provider_event_record(
    *,
    provider: str,
    event_id: str,
    channel: str,
    kind: str,
    provider_status: str,
    message_id: str = "",
    attempt_hint: str = "",
    hint_token: str | None = None,
    permanent: bool = False,
    description: str = "",
    occurred_at: datetime | None = None,
) -> ProviderEvent:
    """Record one provider event once per (provider, event id) and apply it to its invitation.

    `kind` is delivered, opened, failed, or anything else (recorded only). The event is matched to
    its attempt by message id (or, until that is recorded, by the attempt id sent with the message:
    see ``_attempt_for_event``); one that arrives before the acceptance was recorded waits for it.
    A repeated event id returns the first record with `duplicate` set. Text from the provider is
    cut to EVENT_TEXT_MAX characters; a time no provider could have reported is refused.
    """
    now = timezone.now()
    event_id = event_id[:255]
    if occurred_at is not None and not (EARLIEST_EVENT_TIME <= occurred_at <= now + timedelta(days=1)):
        raise InvalidRequest("The event's time is impossible.", fields={"timestamp": ["Not a time of this event."]})
    try:
        with transaction.atomic():
            attempt = _attempt_for_event(
                channel=channel, message_id=message_id, attempt_hint=attempt_hint, hint_token=hint_token
            )
            existing = ProviderEvent.objects.filter(provider=provider, event_id=event_id).first()
            if existing is not None:
                existing.duplicate = True
                return existing
            event = ProviderEvent(
                provider=provider,
                event_id=event_id,
                attempt=attempt,
                message_id=message_id[:255],
                kind=kind,
                provider_status=provider_status[:40],
                permanent=permanent,
                description=description[:EVENT_TEXT_MAX],
                occurred_at=occurred_at,
                received_at=now,
            )
            if attempt is None:
                event.outcome, event.note = ProviderEvent.Outcome.UNMATCHED, "No attempt has this message id."
            elif kind in KIND_STATUS and attempt.accepted_at is None:
                event.outcome = ProviderEvent.Outcome.DEFERRED
                event.note = "Arrived before the acceptance was recorded; applied with it."
            elif kind in KIND_STATUS:
                event.outcome, event.note = _provider_event_apply(attempt=attempt, event=event)
            else:
                event.outcome, event.note = ProviderEvent.Outcome.IGNORED, "Informational event."
            event.save()
    except IntegrityError:
        # The same event, delivered twice at once, was saved by the other request.
        existing = ProviderEvent.objects.get(provider=provider, event_id=event_id)
        existing.duplicate = True
        return existing
    event.duplicate = False
    return event


# anymail's normalized event types -> (kind, permanent). Temporary trouble reaches us as
# `deferred`, which the ESP retries itself; bounced and rejected mean this address will not work.
ANYMAIL_EVENT_KINDS = {
    "queued": ("queued", False),
    "sent": ("queued", False),
    "deferred": ("queued", False),
    "delivered": ("delivered", False),
    "opened": ("opened", False),
    "clicked": ("opened", False),
    "bounced": ("failed", True),
    "rejected": ("failed", True),
    "failed": ("failed", False),
}


def _anymail_event_id(event, esp_name: str) -> str:
    if event.event_id:
        return str(event.event_id)
    # Some ESPs give no id for some events: derive one that a redelivered webhook repeats.
    timestamp = event.timestamp.isoformat() if event.timestamp else ""
    raw = "|".join([esp_name, event.event_type or "", str(event.message_id or ""), timestamp, event.click_url or ""])
    return "derived:" + hashlib.sha256(raw.encode()).hexdigest()


def delivery_email_event_record(*, event, esp_name: str) -> ProviderEvent:
    """Apply one anymail AnymailTrackingEvent (from any ESP's tracking webhook)."""
    for name in ("message_id", "event_id", "event_type"):
        if not isinstance(getattr(event, name), str | int | None):
            raise InvalidRequest("The event has the wrong shape.", fields={name: ["Must be a string."]})
    kind, permanent = ANYMAIL_EVENT_KINDS.get(event.event_type, ("other", False))
    detail = event.description or event.mta_response or ""
    reason = f" ({event.reject_reason})" if event.reject_reason else ""
    description = f"Email {event.event_type}{reason}" + (f": {detail}" if detail else "")
    metadata = event.metadata if isinstance(event.metadata, dict) else {}
    return delivery_provider_event_record(
        provider=f"anymail:{esp_name.lower()}"[:40],
        event_id=_anymail_event_id(event, esp_name),
        channel=Invitation.Channel.EMAIL,
        kind=kind,
        provider_status=str(event.event_type or ""),
        message_id=str(event.message_id or "")[:255],
        attempt_hint=str(metadata.get("delivery_attempt_id", "")),
        hint_token=str(metadata.get("invitation_token") or ""),
        permanent=permanent,
        description=description if kind == "failed" else detail,
        occurred_at=event.timestamp,
    )


# Twilio MessageStatus -> kind. `read` is a read receipt (WhatsApp, RCS).
TWILIO_STATUS_KINDS = {
    "accepted": "queued",
    "scheduled": "queued",
    "queued": "queued",
    "sending": "queued",
    "sent": "queued",
    "delivered": "delivered",
    "read": "opened",
    "undelivered": "failed",
    "failed": "failed",
    "canceled": "failed",
}
# Twilio error codes worth another try: queue overflow, handset unreachable (off, no signal),
# unknown error, carrier congestion. Every other failure (unknown number, landline, blocked,
# unsubscribed) will not get better by itself.
TWILIO_TRANSIENT_ERROR_CODES = frozenset({"30001", "30003", "30008", "30017"})


def delivery_sms_status_record(
    *, message_sid: str, message_status: str, error_code: str = "", attempt_hint: str = ""
) -> ProviderEvent:
    """Apply one Twilio status callback."""
    kind = TWILIO_STATUS_KINDS.get(message_status, "other")
    permanent = kind == "failed" and (message_status == "canceled" or error_code not in TWILIO_TRANSIENT_ERROR_CODES)
    description = ""
    if kind == "failed":
        description = f"SMS {message_status}" + (f" (Twilio error {error_code})" if error_code else "")
    return delivery_provider_event_record(
        provider="twilio",
        event_id=f"{message_sid}:{message_status}",
        channel=Invitation.Channel.SMS,
        kind=kind,
        provider_status=message_status,
        message_id=message_sid,
        attempt_hint=attempt_hint,
        permanent=permanent,
        description=description,
    )
