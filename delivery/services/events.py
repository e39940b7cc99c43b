"""Provider events, whatever the provider: recorded once per provider event id, matched to the send
they are about, and reported to the invitation as an outcome kind. What each provider's events mean
is in its own module under delivery/providers/."""

from datetime import UTC, datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.principals import Actor
from api.errors import InvalidRequest
from delivery.health import failure_reason
from delivery.models import DeliveryAttempt, ProviderEvent
from delivery.services.queueing import DELIVER_JOB, delivery_queue_name, max_tries, retry_policy, retry_wait
from invitations.services.outcomes import DeliveryOutcome, invitation_delivery_reported
from jobs.queueing import enqueue_on_commit
from suppressions.services import suppression_add

# The kinds a provider's event is sorted into (ProviderEvent.kind); "queued" and "other" are kept
# as a record only.
REPORTED_KINDS = frozenset({"delivered", "opened", "failed"})
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
    attempts = (
        DeliveryAttempt.objects.select_for_update(of=("self",)).select_related("invitation").filter(channel=channel)
    )
    attempt = attempts.filter(provider_message_id=message_id).first() if message_id else None
    if attempt is None and attempt_hint.isdigit() and len(attempt_hint) < 19:
        candidates = attempts.filter(pk=int(attempt_hint), provider_message_id="")
        if hint_token is not None:
            candidates = candidates.filter(invitation__token=hint_token) if hint_token else candidates.none()
        attempt = candidates.first()
    return attempt


def _outcome_of(*, attempt: DeliveryAttempt, event: ProviderEvent) -> DeliveryOutcome:
    """What the event says about the send: delivered, opened, bounced, or a failure that a retry may
    (or, once the tries are used up, may no longer) get past."""
    if event.kind == ProviderEvent.Kind.DELIVERED:
        return DeliveryOutcome.DELIVERED
    if event.kind == ProviderEvent.Kind.OPENED:
        return DeliveryOutcome.OPENED
    if event.permanent:
        return DeliveryOutcome.BOUNCED
    return DeliveryOutcome.PERMANENT_FAILURE if attempt.tries >= max_tries() else DeliveryOutcome.TRANSIENT_FAILURE


def suppress_recipient(*, attempt: DeliveryAttempt, reason: str, description: str, actor: str) -> None:
    """Put the address this attempt went to on its organization's and mode's suppression list."""
    suppression_add(
        organization_id=attempt.invitation.organization_id,
        livemode=attempt.livemode,
        channel=attempt.channel,
        recipient=attempt.recipient,
        reason=reason,
        description=description,
        invitation_token=attempt.invitation.token,
        actor=Actor.system(actor),
    )


def provider_event_apply(*, attempt: DeliveryAttempt, event: ProviderEvent) -> tuple[str, str]:
    """Report one event of an accepted attempt to its invitation; return (outcome, note).

    A failure the invitation took (it was only `sent`) also settles the attempt: failed for good, or
    retrying, with the next try scheduled after commit.
    """
    if event.kind not in REPORTED_KINDS:
        return ProviderEvent.Outcome.IGNORED, "Informational event."
    outcome = _outcome_of(attempt=attempt, event=event)
    if outcome in (DeliveryOutcome.DELIVERED, DeliveryOutcome.OPENED) and attempt.delivered_at is None:
        # A fact about this send whatever the invitation makes of it (an older send, or one already
        # further along): the delivery health figures count it delivered.
        reached = max(event.occurred_at or timezone.now(), attempt.accepted_at or EARLIEST_EVENT_TIME)
        attempt.delivered_at = reached
        attempt.save(update_fields=["delivered_at", "updated_at"])
    message = event.description
    if outcome == DeliveryOutcome.PERMANENT_FAILURE:
        message = f"{message} (retries exhausted)"
    wait = retry_wait(attempt.tries)
    retry_at = timezone.now() + timedelta(seconds=wait) if outcome == DeliveryOutcome.TRANSIENT_FAILURE else None
    changed = invitation_delivery_reported(
        invitation_id=attempt.invitation_id,
        attempt_number=attempt.number,
        outcome=outcome,
        actor=Actor.system(event.provider),
        message=message,
        next_retry_at=retry_at,
    )
    if not changed:
        return ProviderEvent.Outcome.IGNORED, "An older attempt, or the invitation is already further along."
    if event.kind == ProviderEvent.Kind.FAILED:
        attempt.error_message = message
        attempt.failure_reason = failure_reason(message)
        if retry_at is not None:
            # The provider accepted the message and then could not send it: try again later.
            attempt.status = DeliveryAttempt.Status.RETRYING
            attempt.retry_at = retry_at
            enqueue_on_commit(
                DELIVER_JOB,
                attempt.pk,
                queue_name=delivery_queue_name(livemode=attempt.livemode),
                delay=wait,
                retry=retry_policy(tries_done=attempt.tries),
            )
        else:
            attempt.status = DeliveryAttempt.Status.FAILED
            attempt.retry_at = None
            attempt.failed_at = timezone.now()
        attempt.save(update_fields=["status", "error_message", "failure_reason", "retry_at", "failed_at", "updated_at"])
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
    suppress_as: str = "",
) -> ProviderEvent:
    """Record one provider event once per (provider, event id) and apply it to its invitation.

    `kind` is delivered, opened, failed, or anything else (recorded only). The event is matched to
    its attempt by message id (or, until that is recorded, by the attempt id sent with the message:
    see ``_attempt_for_event``); one that arrives before the acceptance was recorded waits for it.
    A repeated event id returns the first record with `duplicate` set. Text from the provider is
    cut to EVENT_TEXT_MAX characters; a time no provider could have reported is refused.

    ``suppress_as`` (a Suppression.Reason) says the address cannot or must not be reached: the
    attempt's recipient (the address this send went to) is suppressed, whatever the event does to
    the invitation.
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
            if attempt is not None and suppress_as:
                suppress_recipient(attempt=attempt, reason=suppress_as, description=description, actor=event.provider)
            if attempt is None:
                event.outcome, event.note = ProviderEvent.Outcome.UNMATCHED, "No attempt has this message id."
            elif kind in REPORTED_KINDS and attempt.accepted_at is None:
                event.outcome = ProviderEvent.Outcome.DEFERRED
                event.note = "Arrived before the acceptance was recorded; applied with it."
            elif kind in REPORTED_KINDS:
                event.outcome, event.note = provider_event_apply(attempt=attempt, event=event)
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
