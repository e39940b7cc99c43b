"""What an invitation's page tells a support agent: what happened to it, in plain words, and what
they can do about it (resend, correct the recipient, lift a suppression)."""

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from api.errors import ApiError
from console.tables import admin_time
from delivery.selectors import delivery_retries_due
from invitations.models import Invitation
from invitations.rules import ResendOutlook, resend_outlook
from invitations.services.correct import correction_refusal
from suppressions.models import Suppression
from suppressions.selectors import suppression_active


@dataclass(frozen=True)
class Situation:
    """One invitation as the console presents it."""

    summary: str  # what happened, and what to do
    resend_refusal: ApiError | None  # None: a Resend can succeed now
    can_correct: bool
    can_send_again: bool  # failed for good: the same recipient again is the way forward
    suppression: Suppression | None
    next_retry_at: datetime | None


def invitation_situation(invitation: Invitation) -> Situation:
    now = timezone.now()
    suppression = suppression_active(
        organization_id=invitation.organization_id,
        livemode=invitation.livemode,
        channel=invitation.channel,
        recipient=invitation.recipient,
    )
    retries = (
        delivery_retries_due(invitation_ids=[invitation.pk]) if invitation.status == Invitation.Status.FAILED else {}
    )
    next_retry_at = retries.get(invitation.pk)
    outlook = resend_outlook(
        invitation=invitation,
        now=now,
        suppressions={_target(invitation): suppression} if suppression else {},
        retries=retries,
    )
    can_correct = correction_refusal(invitation=invitation, now=now) is None
    summary = _summary(invitation, suppression, next_retry_at, can_correct)
    return Situation(
        summary=f"{summary} {_resend_sentence(outlook)}",
        resend_refusal=outlook.refusal,
        can_correct=can_correct,
        can_send_again=can_correct and invitation.status == Invitation.Status.FAILED and next_retry_at is None,
        suppression=suppression,
        next_retry_at=next_retry_at,
    )


def _resend_sentence(outlook: ResendOutlook) -> str:
    """The invitation's ``resend`` block in words: whether Resend would pass now, when it will if only
    the cooldown stands in the way, or why it will not."""
    left = outlook.sends_left
    sends_left = f"{left} send{'s' if left != 1 else ''} left"
    if outlook.allowed:
        return f"Resend possible now, {sends_left}."
    if outlook.available_at is not None:
        return f"Resend possible at {admin_time(outlook.available_at)}, {sends_left}."
    refusal = outlook.lasting or outlook.refusal
    return f"Not resendable: {refusal.message if refusal is not None else ''}"


def _target(invitation: Invitation):
    return (invitation.organization_id, invitation.livemode, invitation.channel, invitation.recipient)


def _summary(
    invitation: Invitation, suppression: Suppression | None, next_retry_at: datetime | None, can_correct: bool
) -> str:
    parts = []
    if invitation.status == Invitation.Status.FAILED:
        error = invitation.error_message or "no reason given"
        if next_retry_at is not None:
            parts.append(
                f"The last send failed ({error}). It is tried again automatically at {admin_time(next_retry_at)}: "
                "nothing to do unless the address is wrong."
            )
        else:
            parts.append(
                f"The send failed for good ({error}): sending again to this address would fail again. "
                "Correct the recipient to send it to the right address."
            )
    if suppression is not None:
        description = f": {suppression.description}" if suppression.description else ""
        parts.append(
            f"{suppression.recipient} is suppressed since {admin_time(suppression.created_at)} "
            f"({suppression.get_reason_display()}{description}). Nothing is sent to it until the suppression is "
            "lifted; lift it only if the address works again, or correct the recipient."
        )
    if (
        not parts
        and can_correct
        and invitation.status in (Invitation.Status.PENDING, Invitation.Status.SENT, Invitation.Status.DELIVERED)
    ):
        return "No problem known. If the recipient says the address is wrong, correct the recipient."
    return " ".join(parts) or "Nothing to do."
