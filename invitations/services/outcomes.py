"""What delivery reports about a send, and what it does to the invitation: ``delivery`` says what the
provider said, as an outcome kind; only here is that turned into a status."""

from datetime import datetime

from django.db import models, transaction
from django.utils import timezone

from accounts.principals import Actor
from invitations import lifecycle
from invitations.models import Invitation
from invitations.services.fallback import invitation_fall_back
from invitations.services.transitions import (
    invitation_lock,
    invitations_lock,
    note_record,
    transition_apply,
    transitions_apply,
)


class DeliveryOutcome(models.TextChoices):
    ACCEPTED = "accepted"  # the provider took the message
    TRANSIENT_FAILURE = "transient_failure"  # not sent, or not delivered, but a retry may pass
    PERMANENT_FAILURE = "permanent_failure"  # refused, or retries ran out: no retry follows
    DELIVERED = "delivered"
    OPENED = "opened"
    BOUNCED = "bounced"  # accepted, then the recipient's address would not take it


FAILURES = frozenset({DeliveryOutcome.TRANSIENT_FAILURE, DeliveryOutcome.PERMANENT_FAILURE, DeliveryOutcome.BOUNCED})
# The status a report after acceptance moves the invitation to.
REPORTED_STATUS = {
    DeliveryOutcome.DELIVERED: Invitation.Status.DELIVERED,
    DeliveryOutcome.OPENED: Invitation.Status.OPENED,
    **{failure: Invitation.Status.FAILED for failure in FAILURES},
}
FAILURE_REASON = {
    DeliveryOutcome.TRANSIENT_FAILURE: lifecycle.Reason.DELIVERY_FAILED,
    DeliveryOutcome.PERMANENT_FAILURE: lifecycle.Reason.DELIVERY_FAILED_PERMANENTLY,
    DeliveryOutcome.BOUNCED: lifecycle.Reason.DELIVERY_FAILED_PERMANENTLY,
}


def _is_current(invitation: Invitation, attempt_number: int | None) -> bool:
    """Whether an outcome of this send attempt may still change the invitation.

    Only the latest attempt counts: what happens to an older message cannot undo a newer send.
    """
    return attempt_number is None or attempt_number == invitation.delivery_attempts


def invitation_delivery_wanted(*, invitation: Invitation, attempt_number: int) -> bool:
    """Whether this send is still needed: it is the invitation's latest attempt and the invitation
    still waits for it (an acceptance would move it to `sent`). A recipient who has already
    started, or a newer resend, makes it unnecessary.

    `invitation` is the row as the caller has just read it (the delivery job loads it with the
    attempt it claimed). This is a check before sending, not a lock: a change that lands after it is
    caught by `invitations_delivery_accepted`, which decides under the row lock.
    """
    return invitation.delivery_attempts == attempt_number and lifecycle.is_allowed(
        invitation.status, Invitation.Status.SENT
    )


def invitations_delivery_accepted(*, accepted: list[tuple[int, int, str]], actor: Actor) -> list[Invitation]:
    """The provider accepted these messages, each (invitation id, attempt number, provider message
    id): every invitation still `pending` or `failed` whose latest attempt it was becomes `sent`, in
    one UPDATE with its audit rows and webhook events. The others had been moved on by a later event,
    or the message belonged to an older attempt; they are left as they are. Returns the moved ones.
    """
    wanted = {invitation_id: (number, message_id) for invitation_id, number, message_id in accepted}
    # No savepoint: inside the delivery job's transaction an error here rolls the whole outcome back.
    with transaction.atomic(savepoint=False):
        # Lock the invitation rows (only them; their workflows are read for the webhook events) before
        # checking that each attempt is current: a resend or a provider event may be changing one.
        locked = invitations_lock(Invitation.objects.filter(pk__in=wanted))
        moved = [
            invitation
            for invitation in locked
            if _is_current(invitation, wanted[invitation.pk][0])
            and lifecycle.is_allowed(invitation.status, Invitation.Status.SENT)
        ]
        for invitation in moved:
            invitation.error_message = ""
        if moved:
            transitions_apply(
                invitations=moved,
                to_status=Invitation.Status.SENT,
                actor=actor,
                now=timezone.now(),
                message=lambda invitation: (
                    f"Provider message id {wanted[invitation.pk][1]}" if wanted[invitation.pk][1] else ""
                ),
                update_fields=("error_message",),
            )
    return moved


def _fail(
    *,
    invitation: Invitation,
    outcome: DeliveryOutcome,
    message: str,
    actor: Actor,
    now: datetime,
    next_retry_at: datetime | None,
) -> None:
    """Move the locked invitation to `failed`, keeping the error it failed with. Its webhook event
    says whether an automatic retry follows, and when. Failed for good, it falls back to the other
    channel where it names one (``fallback.invitation_fall_back``)."""
    invitation.error_message = message
    retry = {"willRetry": next_retry_at is not None, "nextRetryAt": next_retry_at}
    transition_apply(
        invitation=invitation,
        to_status=Invitation.Status.FAILED,
        actor=actor,
        now=now,
        message=message,
        reason=FAILURE_REASON[outcome],
        update_fields=("error_message",),
        event_data=lambda _invitation: retry,
    )
    if outcome != DeliveryOutcome.TRANSIENT_FAILURE and next_retry_at is None:
        invitation_fall_back(invitation=invitation, now=now)


def invitation_delivery_failed(
    *,
    invitation_id: int,
    actor: Actor,
    error_message: str,
    outcome: DeliveryOutcome,
    attempt_number: int | None = None,
    next_retry_at: datetime | None = None,
) -> Invitation:
    """A send failed before the provider took it: the invitation shows `failed` with the error until
    a retry is accepted. A permanent failure says no retry follows; a transient one when the next
    try is due (``next_retry_at``)."""
    with transaction.atomic():
        invitation = invitation_lock(Invitation(pk=invitation_id))
        if not _is_current(invitation, attempt_number):
            return invitation
        now = timezone.now()
        if lifecycle.is_allowed(invitation.status, Invitation.Status.FAILED):
            _fail(
                invitation=invitation,
                outcome=outcome,
                message=error_message,
                actor=actor,
                now=now,
                next_retry_at=next_retry_at,
            )
        elif invitation.status == Invitation.Status.FAILED:
            invitation.error_message = error_message
            # Still failed: keep the latest error and say so in the audit trail.
            note_record(
                invitation=invitation,
                actor=actor,
                now=now,
                reason=FAILURE_REASON[outcome],
                message=error_message,
                update_fields=("error_message",),
            )
            if outcome == DeliveryOutcome.PERMANENT_FAILURE:
                invitation_fall_back(invitation=invitation, now=now)
    return invitation


def invitation_delivery_reported(
    *,
    invitation_id: int,
    attempt_number: int,
    outcome: DeliveryOutcome,
    actor: Actor,
    message: str = "",
    next_retry_at: datetime | None = None,
) -> bool:
    """A provider reported what became of an accepted message: delivered, opened, bounced or failed.

    Only the invitation's latest attempt counts, and the status only moves forward: a failure after
    delivery cannot undo it, and a report that arrives late (delivered after opened) fills its
    timestamp if it is missing and leaves the status alone. Returns whether the invitation changed.
    """
    to_status = REPORTED_STATUS[outcome]
    with transaction.atomic():
        # Lock the row: a resend, the recipient's click and other provider events change the same
        # status, and "is this the latest attempt / is this forward" must hold until we write.
        invitation = invitation_lock(Invitation(pk=invitation_id))
        if not _is_current(invitation, attempt_number):
            return False
        now = timezone.now()
        current = invitation.status
        if outcome in FAILURES:
            if current != Invitation.Status.SENT:
                # Delivered, opened or later: the recipient got it; a failure cannot undo that.
                return False
            _fail(
                invitation=invitation,
                outcome=outcome,
                message=message,
                actor=actor,
                now=now,
                next_retry_at=next_retry_at,
            )
            return True
        if lifecycle.is_allowed(current, to_status):
            transition_apply(invitation=invitation, to_status=to_status, actor=actor, now=now, message=message)
            return True
        return _late_report(invitation=invitation, to_status=to_status, actor=actor, now=now)


def _late_report(*, invitation: Invitation, to_status: str, actor: Actor, now: datetime) -> bool:
    """A report for a status the invitation has already moved past: fill its missing timestamp."""
    timestamp_field = lifecycle.TIMESTAMP_FIELD[to_status]
    current = invitation.status
    if lifecycle.is_behind(current, Invitation.Status.SENT) or not lifecycle.is_behind(to_status, current):
        return False
    if getattr(invitation, timestamp_field) is not None:
        return False
    setattr(invitation, timestamp_field, now)
    note_record(
        invitation=invitation,
        actor=actor,
        now=now,
        reason=lifecycle.LATE_REASON[to_status],
        message=f"Reported after the invitation was {current}; status kept.",
        update_fields=(timestamp_field,),
    )
    return True
