"""Changing an invitation (PATCH): a new recipient (and channel) corrects it and sends it to the
corrected address, under API.md's "Correct and resend" rules; reference, locale and reminders change
alone without a send."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.principals import Actor
from api.errors import ApiError, ValidationFailed
from api.validators import LOCALE_RE
from delivery.services.queueing import delivery_attempts_cancel, delivery_attempts_queue
from invitations import lifecycle
from invitations.exceptions import (
    CannotChange,
    CannotCorrect,
    CannotReschedule,
    InvitationExpired,
    RecipientSuppressed,
)
from invitations.languages import canonical_tag
from invitations.lifecycle import CORRECTABLE
from invitations.models import Invitation
from invitations.reminders import expiry_warning_due_at, reminder_due_at
from invitations.rules import send_again_refusal, send_rules_refusal
from invitations.selectors import InvitationLookup
from invitations.services.create import normalize_recipient, refuse_simulated, reminder_fields
from invitations.services.fallback import fallback_fields
from invitations.services.resend import invitations_send_next
from invitations.services.schedule import send_at_refusal
from invitations.services.transitions import invitation_lock, note_record
from suppressions.selectors import suppression_active, suppression_key

# PATCH's "not given" where None is a value (sendAt: null sends now).
UNSET = object()

# Over: nothing about them changes any more.
FINISHED = frozenset({Invitation.Status.COMPLETED, Invitation.Status.REJECTED, Invitation.Status.CANCELED})


def correction_refusal(*, invitation: Invitation, now: datetime) -> ApiError | None:
    """The first rule a correction of this invitation breaks before its new recipient is looked at
    (API.md's order: expired, status, attempt cap), or None. The cooldown does not apply."""
    return send_rules_refusal(
        invitation=invitation,
        now=now,
        statuses=CORRECTABLE,
        wrong_status=lambda invitation: CannotCorrect(status=invitation.status),
    )


def _new_recipient(*, invitation: Invitation, channel: str | None, recipient: str | None) -> tuple[str, str]:
    """The corrected (channel, recipient), normalized; ValidationFailed when it is invalid for its
    channel or no different from the current one."""
    channel = invitation.channel if channel is None else channel
    if channel not in Invitation.Channel.values:
        raise ValidationFailed(fields={"channel": [f"Must be one of: {', '.join(Invitation.Channel.values)}."]})
    if recipient is None:
        if channel != invitation.channel:
            raise ValidationFailed(fields={"recipient": ["Give the recipient on the new channel."]})
        raise ValidationFailed(fields={"recipient": ["Give the corrected recipient."]})
    recipient = normalize_recipient(channel=channel, recipient=recipient)
    if invitation.livemode:
        refuse_simulated(channel=channel, recipient=recipient)
    same = channel == invitation.channel and suppression_key(channel=channel, recipient=recipient) == suppression_key(
        channel=channel, recipient=invitation.recipient
    )
    if same:
        refusal = _same_recipient_refusal(invitation)
        if refusal is not None:
            raise ValidationFailed(fields={"recipient": [refusal]})
        return channel, invitation.recipient  # sent again, to the address as it was written
    return channel, recipient


def _same_recipient_refusal(invitation: Invitation) -> str | None:
    """Why the current recipient again is no correction, or None: on a `failed` invitation with no
    automatic retry pending (``send_again_refusal``; its suppression is checked after, as for any
    corrected recipient) it is the way to send again, once the address works."""
    if invitation.status != Invitation.Status.FAILED:
        return "This is the current recipient: resend instead."
    refusal = send_again_refusal(invitation=invitation, now=timezone.now(), suppressions={})
    if refusal is not None:
        return f"This is the current recipient. {refusal.message}"
    return None


def _apply_details(
    *, invitation: Invitation, reference: str | None, locale: str | None, reminders: dict | None
) -> list[str]:
    """Set the details asked for on the instance; the fields changed."""
    if locale is not None and not LOCALE_RE.fullmatch(locale):
        raise ValidationFailed(fields={"locale": ["Enter a language tag such as en or pt-BR."]})
    changed: list[str] = []
    if reference is not None:
        invitation.reference = reference
        changed.append("reference")
    if locale is not None:
        invitation.locale = canonical_tag(locale)
        changed.append("locale")
    if reminders is not None:
        for field, value in reminder_fields(given=reminders, defaults=invitation).items():
            setattr(invitation, field, value)
            changed.append(field)
    return changed


def _reschedule(*, invitation: Invitation, send_at: datetime | None, now: datetime) -> bool:
    """Move the invitation's scheduled first send to ``send_at``, or to now (None); whether it goes now."""
    if invitation.send_due_at is None or invitation.status != Invitation.Status.PENDING:
        raise CannotReschedule(status=invitation.status)
    if send_at is None:
        invitation.send_at = now
        invitation.send_due_at = None
        return True
    refusal = send_at_refusal(send_at=send_at, now=now, expires_at=invitation.expires_at)
    if refusal is not None:
        raise refusal
    invitation.send_at = invitation.send_due_at = send_at
    return False


def _move_expiry(*, invitation: Invitation, expires_at: datetime, now: datetime) -> list[str]:
    """Move the expiry (later or earlier): never for an expired or finished invitation, to a time
    ahead and at most INVITATION_MAX_LIFETIME_DAYS after creation (after a scheduled send)."""
    if invitation.expires_at <= now:
        raise InvitationExpired()
    if invitation.status in FINISHED:
        raise CannotChange(status=invitation.status)
    latest = invitation.created_at + timedelta(days=settings.INVITATION_MAX_LIFETIME_DAYS)
    if expires_at <= now:
        raise ValidationFailed(fields={"expiresAt": ["Must be in the future."]})
    if expires_at > latest:
        raise ValidationFailed(
            fields={
                "expiresAt": [
                    f"Must be at most {settings.INVITATION_MAX_LIFETIME_DAYS} days after createdAt "
                    f"({latest:%Y-%m-%dT%H:%M:%SZ})."
                ]
            }
        )
    if invitation.send_due_at is not None and expires_at <= invitation.send_due_at:
        raise ValidationFailed(fields={"expiresAt": ["Must be after the scheduled sendAt."]})
    invitation.expires_at = expires_at
    return ["expires_at"]


def _apply_expiry(
    *, invitation: Invitation, expires_at: datetime | None, expiry_warning: dict | None | object, now: datetime
) -> list[str]:
    """A new expiry (which re-arms a warning already sent) and expiry warning, set on the instance;
    the fields changed."""
    if expires_at is None and expiry_warning is UNSET:
        return []
    changed = ["expiry_warning_sent_at", "expiry_warning_due_at"]
    if expires_at is not None:
        changed += _move_expiry(invitation=invitation, expires_at=expires_at, now=now)
        invitation.expiry_warning_sent_at = None
    if expiry_warning is not UNSET:
        invitation.expiry_warning_before_hours = (expiry_warning or {}).get("beforeHours")  # type: ignore[attr-defined]
        changed.append("expiry_warning_before_hours")
    invitation.expiry_warning_due_at = expiry_warning_due_at(invitation)
    return changed


def invitation_update(
    *,
    invitation: Invitation | InvitationLookup,
    actor: Actor,
    channel: str | None = None,
    recipient: str | None = None,
    reference: str | None = None,
    locale: str | None = None,
    reminders: dict | None = None,
    send_at: datetime | None | object = UNSET,
    expires_at: datetime | None = None,
    expiry_warning: dict | None | object = UNSET,
    fallback: dict | None | object = UNSET,
) -> Invitation:
    """Change an invitation. With a new ``recipient`` (and ``channel``), a correction: in one
    transaction under the row lock the sends still queued or retrying to the old address are
    canceled, the recipient changes, the invitation is `pending` with one more attempt, audited as
    recipient_corrected, told as invitation.corrected, and the new send is queued after commit.
    Without, only the details given change and nothing is sent. None means "not given", but for
    ``send_at`` (UNSET: not given): a new time moves a scheduled first send, None sends it now."""
    correcting = channel is not None or recipient is not None
    with transaction.atomic():
        # Lock the row before checking the rules: a resend, a delivery outcome or another
        # correction must not interleave with this one.
        invitation = invitation_lock(invitation)
        now = timezone.now()
        refusal = correction_refusal(invitation=invitation, now=now) if correcting else None
        if refusal is None and not correcting and invitation.status in FINISHED:
            refusal = CannotChange(status=invitation.status)
        if refusal is not None:
            raise refusal
        corrected = _new_recipient(invitation=invitation, channel=channel, recipient=recipient) if correcting else None
        changed = _apply_details(invitation=invitation, reference=reference, locale=locale, reminders=reminders)
        send_now = False
        if send_at is not UNSET:
            send_now = _reschedule(invitation=invitation, send_at=send_at, now=now)  # type: ignore[arg-type]
            changed += ["send_at", "send_due_at"]
        previous_expiry = invitation.expires_at
        changed += _apply_expiry(invitation=invitation, expires_at=expires_at, expiry_warning=expiry_warning, now=now)
        if fallback is not UNSET:
            channel_after = corrected[0] if corrected is not None else invitation.channel
            given = fallback_fields(channel=channel_after, given=fallback, normalize=normalize_recipient)  # type: ignore[arg-type]
            for field, value in given.items():
                setattr(invitation, field, value)
                changed.append(field)
        if corrected is None:
            invitation.next_reminder_at = reminder_due_at(invitation)
            moved = expires_at is not None
            note_record(
                invitation=invitation,
                actor=actor,
                now=now,
                reason=lifecycle.Reason.EXPIRY_CHANGED if moved else lifecycle.Reason.DETAILS_CHANGED,
                message=(
                    f"Expiry moved from {previous_expiry:%Y-%m-%d %H:%M:%S} "
                    f"to {invitation.expires_at:%Y-%m-%d %H:%M:%S} UTC."
                    if moved
                    else "Changed: " + ", ".join(sorted({name.split("_")[0] for name in changed})) + "."
                ),
                update_fields=(*changed, "next_reminder_at"),
                # A PATCH that sends nothing is told as invitation.updated.
                event_type="" if send_now else "invitation.updated",
            )
            if send_now:
                delivery_attempts_queue(invitations=[invitation], actor=actor)
            return invitation
        _correct(
            invitation=invitation, channel=corrected[0], recipient=corrected[1], actor=actor, now=now, also=changed
        )
    return invitation


def _correct(
    *, invitation: Invitation, channel: str, recipient: str, actor: Actor, now: datetime, also: list[str]
) -> None:
    suppression = suppression_active(
        organization_id=invitation.organization_id, livemode=invitation.livemode, channel=channel, recipient=recipient
    )
    if suppression is not None:
        raise RecipientSuppressed(suppression=suppression)
    previous = invitation.recipient
    again = channel == invitation.channel and recipient == previous
    delivery_attempts_cancel(invitation_ids=[invitation.pk], reason="Canceled: the recipient was corrected.")
    invitation.channel = channel
    invitation.recipient = recipient
    vars(invitation).pop("suppression_pk", None)  # read with the row, for the old recipient
    # The corrected address has had nothing yet; a scheduled first send goes now, to it.
    invitation.delivered_at = None
    invitation.send_due_at = None
    invitations_send_next(
        [invitation],
        actor=actor,
        now=now,
        reason=lifecycle.Reason.RECIPIENT_CORRECTED,
        update_fields=("channel", "recipient", "delivered_at", "send_due_at", *also),
        message=lambda i: (
            f"Sent again to {recipient}; send attempt {i.delivery_attempts} requested."
            if again
            else f"Recipient corrected from {previous} to {recipient}; send attempt {i.delivery_attempts} requested."
        ),
        event_data=lambda _i: {"previousRecipient": previous},
    )
