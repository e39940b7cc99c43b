"""The invitation lifecycle and its rules. Views, admin actions and commands call these."""

import math
import re
from datetime import datetime, timedelta

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Organization
from accounts.principals import Actor
from invitations import lifecycle
from invitations.exceptions import (
    CooldownActive,
    InvalidStatus,
    InvalidTransition,
    InvitationExpired,
    MaxAttemptsReached,
)
from invitations.models import Invitation, InvitationEvent, Workflow
from invitations_project.errors import ValidationFailed

LOCALE_RE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")


def _transition(
    *,
    invitation: Invitation,
    to_status: str,
    actor: Actor,
    now: datetime,
    message: str = "",
    reason: str | None = None,
    update_fields: tuple[str, ...] = (),
) -> Invitation:
    """Apply one move of the transition table, save it, and write its audit row.

    The caller holds the row lock and the transaction.
    """
    from_status = invitation.status if invitation.pk else ""
    if not lifecycle.is_allowed(from_status, to_status):
        raise InvalidTransition(from_status=from_status, to_status=to_status)
    fields = set(update_fields)
    invitation.status = to_status
    fields.add("status")
    timestamp_field = lifecycle.TIMESTAMP_FIELD.get(to_status)
    if timestamp_field:
        setattr(invitation, timestamp_field, now)
        fields.add(timestamp_field)
    if invitation.pk:
        fields.add("updated_at")
        invitation.save(update_fields=sorted(fields))
    else:
        invitation.save()
    InvitationEvent.objects.create(
        invitation=invitation,
        from_status=from_status,
        to_status=to_status,
        reason=reason or lifecycle.TRANSITIONS[(from_status, to_status)],
        message=message,
        actor_kind=actor.kind,
        actor_label=actor.label[:200],
        actor_user_id=actor.user_id,
        actor_api_key_id=actor.api_key_id,
        created_at=now,
    )
    return invitation


def _lock(invitation: Invitation) -> Invitation:
    # Lock the invitation row before checking any rule that depends on it: two concurrent
    # resends must not both see "sent" and both enqueue a delivery.
    return (
        Invitation.objects.select_for_update(of=("self",))
        .select_related("workflow", "organization")
        .get(pk=invitation.pk)
    )


def normalize_recipient(*, channel: str, recipient: str) -> str:
    recipient = recipient.strip()
    if channel == Invitation.Channel.EMAIL:
        try:
            validate_email(recipient)
        except DjangoValidationError as exc:
            raise ValidationFailed(fields={"recipient": ["Enter a valid email address."]}) from exc
        local, _, domain = recipient.rpartition("@")
        return f"{local}@{domain.lower()}"
    try:
        number = phonenumbers.parse(recipient, settings.SMS_DEFAULT_REGION or None)
    except phonenumbers.NumberParseException as exc:
        raise ValidationFailed(
            fields={"recipient": ["Enter a phone number in E.164 form, like +14155550123."]}
        ) from exc
    if not phonenumbers.is_valid_number(number):
        raise ValidationFailed(fields={"recipient": ["This phone number is not a possible number."]})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def workflow_get_default(*, organization: Organization) -> Workflow:
    workflow, _ = Workflow.objects.get_or_create(
        organization=organization,
        is_default=True,
        defaults={"name": "Default", "flow_url": settings.INVITATION_DEFAULT_FLOW_URL},
    )
    return workflow


def _workflow_for(*, organization: Organization, workflow_token: str | None) -> Workflow:
    if not workflow_token:
        return workflow_get_default(organization=organization)
    workflow = Workflow.objects.filter(organization=organization, token=workflow_token).first()
    if workflow is None:
        raise ValidationFailed(fields={"workflowToken": ["No workflow with this token."]})
    return workflow


def _replay(
    *, organization: Organization, livemode: bool, idempotency_key: str, channel: str, recipient: str, reference: str
) -> Invitation | None:
    existing = (
        Invitation.objects.select_related("workflow")
        .filter(organization=organization, livemode=livemode, idempotency_key=idempotency_key)
        .first()
    )
    if existing is None:
        return None
    if (existing.channel, existing.recipient, existing.reference) != (channel, recipient, reference):
        raise ValidationFailed(
            "This Idempotency-Key was already used with different parameters.",
            fields={"Idempotency-Key": ["Already used for another request."]},
        )
    return existing


def invitation_create(
    *,
    organization: Organization,
    livemode: bool,
    channel: str,
    recipient: str,
    actor: Actor,
    workflow_token: str | None = None,
    reference: str = "",
    locale: str = "en",
    idempotency_key: str | None = None,
) -> Invitation:
    """Create an invitation in `pending` and queue its first delivery after commit.

    With an idempotency key, a repeated call returns the invitation the first call made.
    """
    from delivery.services import delivery_attempt_queue

    if channel not in Invitation.Channel.values:
        raise ValidationFailed(fields={"channel": [f"Must be one of: {', '.join(Invitation.Channel.values)}."]})
    if not LOCALE_RE.fullmatch(locale):
        raise ValidationFailed(fields={"locale": ["Enter a language tag such as en or pt-BR."]})
    recipient = normalize_recipient(channel=channel, recipient=recipient)
    max_key_length = Invitation._meta.get_field("idempotency_key").max_length
    if idempotency_key and len(idempotency_key) > max_key_length:
        raise ValidationFailed(fields={"Idempotency-Key": [f"Use at most {max_key_length} characters."]})
    if idempotency_key:
        replayed = _replay(
            organization=organization,
            livemode=livemode,
            idempotency_key=idempotency_key,
            channel=channel,
            recipient=recipient,
            reference=reference,
        )
        if replayed is not None:
            return replayed
    workflow = _workflow_for(organization=organization, workflow_token=workflow_token)
    now = timezone.now()
    try:
        with transaction.atomic():
            invitation = Invitation(
                organization=organization,
                workflow=workflow,
                livemode=livemode,
                channel=channel,
                recipient=recipient,
                reference=reference,
                locale=locale,
                idempotency_key=idempotency_key or "",
                delivery_attempts=1,
                created_at=now,
                expires_at=now + timedelta(days=settings.INVITATION_EXPIRY_DAYS),
            )
            _transition(invitation=invitation, to_status=Invitation.Status.PENDING, actor=actor, now=now)
            delivery_attempt_queue(invitation=invitation)
    except IntegrityError:
        if not idempotency_key:
            raise
        # A concurrent request with the same key won the insert; answer with its invitation.
        replayed = _replay(
            organization=organization,
            livemode=livemode,
            idempotency_key=idempotency_key,
            channel=channel,
            recipient=recipient,
            reference=reference,
        )
        if replayed is None:
            raise
        return replayed
    return invitation


def resend_refusal(*, invitation: Invitation, now: datetime) -> Exception | None:
    """The first resend rule this invitation breaks, in API.md's order, or None."""
    if invitation.expires_at <= now:
        return InvitationExpired()
    if invitation.status != Invitation.Status.SENT:
        return InvalidStatus(status=invitation.status)
    if invitation.delivery_attempts >= settings.INVITATION_MAX_DELIVERY_ATTEMPTS:
        return MaxAttemptsReached()
    if invitation.sent_at is not None:
        elapsed = (now - invitation.sent_at).total_seconds()
        remaining = math.ceil(settings.INVITATION_RESEND_COOLDOWN_SECONDS - elapsed)
        if remaining > 0:
            return CooldownActive(remaining_seconds=remaining)
    return None


def invitation_resend(*, invitation: Invitation, actor: Actor) -> Invitation:
    """Move a `sent` invitation back to `pending` and queue a fresh delivery after commit."""
    from delivery.services import delivery_attempt_queue

    with transaction.atomic():
        invitation = _lock(invitation)
        now = timezone.now()
        refusal = resend_refusal(invitation=invitation, now=now)
        if refusal is not None:
            raise refusal
        invitation.sent_at = None
        invitation.delivery_attempts += 1
        invitation.error_message = ""
        _transition(
            invitation=invitation,
            to_status=Invitation.Status.PENDING,
            actor=actor,
            now=now,
            message=f"Send attempt {invitation.delivery_attempts} requested.",
            update_fields=("sent_at", "delivery_attempts", "error_message"),
        )
        delivery_attempt_queue(invitation=invitation)
    return invitation


def invitation_delivery_accepted(*, invitation_id: int, actor: Actor, provider_message_id: str = "") -> Invitation:
    """The provider accepted a message: `pending` or `failed` becomes `sent`.

    Anything else means a later event already moved the invitation on; it is left as it is.
    """
    with transaction.atomic():
        invitation = _lock(Invitation(pk=invitation_id))
        if invitation.status in (Invitation.Status.PENDING, Invitation.Status.FAILED):
            invitation.error_message = ""
            _transition(
                invitation=invitation,
                to_status=Invitation.Status.SENT,
                actor=actor,
                now=timezone.now(),
                message=f"Provider message id {provider_message_id}" if provider_message_id else "",
                update_fields=("error_message",),
            )
    return invitation


def invitation_delivery_failed(*, invitation_id: int, actor: Actor, error_message: str, permanent: bool) -> Invitation:
    """A delivery failed: the invitation shows `failed` with the error until a retry is accepted."""
    with transaction.atomic():
        invitation = _lock(Invitation(pk=invitation_id))
        now = timezone.now()
        reason = "delivery_failed_permanently" if permanent else "delivery_failed"
        if invitation.status in (Invitation.Status.PENDING, Invitation.Status.SENT):
            invitation.error_message = error_message
            _transition(
                invitation=invitation,
                to_status=Invitation.Status.FAILED,
                actor=actor,
                now=now,
                message=error_message,
                reason=reason,
                update_fields=("error_message",),
            )
        elif invitation.status == Invitation.Status.FAILED:
            # Still failed: keep the latest error and say so in the audit trail.
            invitation.error_message = error_message
            invitation.save(update_fields=["error_message", "updated_at"])
            InvitationEvent.objects.create(
                invitation=invitation,
                from_status=invitation.status,
                to_status=invitation.status,
                reason=reason,
                message=error_message,
                actor_kind=actor.kind,
                actor_label=actor.label,
                created_at=now,
            )
    return invitation
