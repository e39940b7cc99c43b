"""Channel fallback: an invitation that fails for good moves to the other channel it names
(``fallback``), in the same transaction: same token and link, one more attempt, history reason
channel_fallback, told as invitation.corrected. A suppressed fallback is not contacted."""

from datetime import datetime

from accounts.principals import Actor
from api.errors import ValidationFailed
from invitations import lifecycle
from invitations.exceptions import InvalidStatus
from invitations.models import Invitation
from invitations.rules import send_rules_refusal
from suppressions.selectors import suppression_active

FALLBACK_ACTOR = Actor.fallback()
FAILED = frozenset({Invitation.Status.FAILED})


def fallback_fields(*, channel: str, given: dict | None, normalize) -> dict:
    """The model fields for ``fallback`` as the API gives it ({"channel", "recipient"}, or None to
    remove it) beside an invitation on ``channel``; ValidationFailed unless it is the other channel
    with a recipient valid for it (``normalize(channel=, recipient=)``)."""
    if given is None:
        return {"fallback_channel": "", "fallback_recipient": ""}
    other = given.get("channel")
    if other not in Invitation.Channel.values or other == channel:
        raise ValidationFailed(fields={"fallback": [f"The channel must be the other one than {channel}."]})
    try:
        recipient = normalize(channel=other, recipient=given.get("recipient", ""))
    except ValidationFailed as exc:
        raise ValidationFailed(fields={"fallback": exc.extra["fields"]["recipient"]}) from exc
    return {"fallback_channel": other, "fallback_recipient": recipient}


def invitation_fall_back(*, invitation: Invitation, now: datetime) -> bool:
    """Move the locked invitation, just failed for good, to its fallback; whether it moved. Not when
    it has none, has expired or is at the attempt cap; a suppressed fallback is not contacted, and
    errorMessage says so beside the first channel's error. The caller holds the transaction."""
    from invitations.services.resend import invitations_send_next

    if not invitation.fallback_channel:
        return False
    refusal = send_rules_refusal(
        invitation=invitation, now=now, statuses=FAILED, wrong_status=lambda i: InvalidStatus(status=i.status)
    )
    if refusal is not None:  # expired, or at the cap
        return False
    channel, recipient = invitation.fallback_channel, invitation.fallback_recipient
    suppression = suppression_active(
        organization_id=invitation.organization_id, livemode=invitation.livemode, channel=channel, recipient=recipient
    )
    if suppression is not None:
        invitation.error_message = (
            f"{invitation.error_message} The fallback {channel} to {recipient} was not contacted: it is suppressed "
            f"({suppression.get_reason_display()})."
        ).strip()
        invitation.save(update_fields=["error_message", "updated_at"])
        return False
    previous = invitation.recipient
    invitation.channel, invitation.recipient = channel, recipient
    invitation.fallback_channel, invitation.fallback_recipient = "", ""
    invitation.delivered_at = None
    vars(invitation).pop("suppression_pk", None)  # read with the row, for the first recipient
    invitations_send_next(
        [invitation],
        actor=FALLBACK_ACTOR,
        now=now,
        reason=lifecycle.Reason.CHANNEL_FALLBACK,
        update_fields=("channel", "recipient", "fallback_channel", "fallback_recipient", "delivered_at"),
        message=lambda i: (
            f"Failed for good to {previous}; falling back to {channel} {recipient}: send attempt {i.delivery_attempts}."
        ),
        event_data=lambda _i: {"previousRecipient": previous, "reason": "channel_fallback"},
    )
    return True
