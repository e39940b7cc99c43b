"""Creating an invitation: its input made canonical, its workflow, and the first send queued after
commit. (An Idempotency-Key replay is answered before this runs: api.idempotency.)"""

from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import Organization
from accounts.principals import Actor
from api.errors import ValidationFailed
from api.validators import LOCALE_RE, normalize_email, normalize_phone
from delivery.services.queueing import delivery_attempts_queue
from delivery.simulator import simulated_recipient
from invitations.exceptions import RecipientSuppressed
from invitations.languages import canonical_tag
from invitations.models import Invitation, Workflow
from invitations.reminders import expiry_warning_due_at
from invitations.services.fallback import fallback_fields
from invitations.services.schedule import send_at_refusal
from invitations.services.transitions import transitions_apply
from suppressions.selectors import suppression_active

# "Not given": the organization's default applies (None is a value: no expiry warning).
DEFAULT = object()


def refuse_simulated(*, channel: str, recipient: str, field: str = "recipient") -> None:
    """ValidationFailed for a recipient reserved for sandbox simulations: live sends never go there."""
    if simulated_recipient(channel=channel, recipient=recipient):
        raise ValidationFailed(
            fields={field: ["This recipient is reserved for sandbox simulations: use a sandbox key."]}
        )


def normalize_recipient(*, channel: str, recipient: str) -> str:
    normalize = normalize_email if channel == Invitation.Channel.EMAIL else normalize_phone
    try:
        return normalize(recipient)
    except DjangoValidationError as exc:
        raise ValidationFailed(fields={"recipient": list(exc.messages)}) from exc


# The API's names of the reminder settings -> the fields they set (the same on Organization, as its
# defaults, and on Invitation).
REMINDER_FIELDS = {"afterHours": "reminder_after_hours", "everyHours": "reminder_every_hours", "max": "reminder_max"}


def reminder_fields(*, given: dict | None, defaults) -> dict:
    """The reminder settings asked for, each one left out taken from ``defaults`` (the organization's
    on create, the invitation's own on a change)."""
    given = given or {}
    return {field: given.get(name, getattr(defaults, field)) for name, field in REMINDER_FIELDS.items()}


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


def invitation_prepare(
    *,
    organization: Organization,
    livemode: bool,
    channel: str,
    recipient: str,
    now: datetime,
    workflow_token: str | None = None,
    reference: str = "",
    locale: str = "en",
    reminders: dict | None = None,
    send_at: datetime | None = None,
    expiry_warning: dict | None | object = DEFAULT,
    fallback: dict | None = None,
    workflows: dict[str | None, Workflow] | None = None,
) -> Invitation:
    """A new invitation as a create makes it, not yet saved, its input checked in the create's order
    (ValidationFailed), its suppression aside. ``workflows``: the ones already looked up, by token."""
    if channel not in Invitation.Channel.values:
        raise ValidationFailed(fields={"channel": [f"Must be one of: {', '.join(Invitation.Channel.values)}."]})
    if not LOCALE_RE.fullmatch(locale):
        raise ValidationFailed(fields={"locale": ["Enter a language tag such as en or pt-BR."]})
    recipient = normalize_recipient(channel=channel, recipient=recipient)
    if livemode:
        refuse_simulated(channel=channel, recipient=recipient)
    fallback_given = fallback_fields(channel=channel, given=fallback, normalize=normalize_recipient)
    workflows = {} if workflows is None else workflows
    if workflow_token not in workflows:
        workflows[workflow_token] = _workflow_for(organization=organization, workflow_token=workflow_token)
    expires_at = now + timedelta(days=settings.INVITATION_EXPIRY_DAYS)
    if send_at is not None:
        refusal = send_at_refusal(send_at=send_at, now=now, expires_at=expires_at)
        if refusal is not None:
            raise refusal
    invitation = Invitation(
        organization=organization,
        workflow=workflows[workflow_token],
        livemode=livemode,
        channel=channel,
        recipient=recipient,
        reference=reference,
        locale=canonical_tag(locale),
        delivery_attempts=1,
        **reminder_fields(given=reminders, defaults=organization),
        created_at=now,
        expires_at=expires_at,
        send_at=send_at,
        send_due_at=send_at,
        **fallback_given,
        expiry_warning_before_hours=(
            organization.expiry_warning_before_hours
            if expiry_warning is DEFAULT
            else (expiry_warning or {}).get("beforeHours")  # type: ignore[attr-defined]
        ),
    )
    invitation.expiry_warning_due_at = expiry_warning_due_at(invitation)
    return invitation


def invitations_insert(invitations: list[Invitation], *, actor: Actor, now: datetime) -> None:
    """Save prepared invitations in `pending`, with their audit rows and invitation.created events,
    and queue the first sends of those not scheduled after commit (in delivery batches when many).
    The caller holds the transaction."""
    transitions_apply(invitations=invitations, to_status=Invitation.Status.PENDING, actor=actor, now=now)
    delivery_attempts_queue(
        invitations=[invitation for invitation in invitations if invitation.send_at is None], actor=actor
    )


def invitation_create(*, organization: Organization, livemode: bool, actor: Actor, **fields) -> Invitation:
    """Create an invitation in `pending` and queue its first delivery after commit; with ``send_at``,
    nothing is queued until then (``schedule.invitations_send_scheduled``). ``expiry_warning``
    ({"beforeHours": N}, or None for none) left out takes the organization's default. The fields are
    ``invitation_prepare``'s."""
    now = timezone.now()
    invitation = invitation_prepare(organization=organization, livemode=livemode, now=now, **fields)
    suppression = suppression_active(
        organization_id=organization.pk, livemode=livemode, channel=invitation.channel, recipient=invitation.recipient
    )
    if suppression is not None:
        raise RecipientSuppressed(suppression=suppression)
    with transaction.atomic():
        invitations_insert([invitation], actor=actor, now=now)
    return invitation
