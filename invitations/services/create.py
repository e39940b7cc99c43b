"""Creating an invitation: its input made canonical, its workflow, the Idempotency-Key replay, and
the first send queued after commit."""

from datetime import timedelta
from functools import partial

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Organization
from accounts.principals import Actor
from delivery.services.queueing import delivery_attempt_queue
from invitations.models import Invitation, Workflow
from invitations.services.transitions import transition_apply
from invitations_project.errors import ValidationFailed
from invitations_project.validators import LOCALE_RE, normalize_email, normalize_phone


def normalize_recipient(*, channel: str, recipient: str) -> str:
    normalize = normalize_email if channel == Invitation.Channel.EMAIL else normalize_phone
    try:
        return normalize(recipient)
    except DjangoValidationError as exc:
        raise ValidationFailed(fields={"recipient": list(exc.messages)}) from exc


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


def _replay(*, organization: Organization, livemode: bool, idempotency_key: str, request: dict) -> Invitation | None:
    """The invitation a first request with this key made, when ``request`` (the create's fields, as
    the service resolved them) is the same; a 422 when any field differs."""
    existing = (
        Invitation.objects.select_related("workflow")
        .filter(organization=organization, livemode=livemode, idempotency_key=idempotency_key)
        .first()
    )
    if existing is None:
        return None
    if any(getattr(existing, name) != value for name, value in request.items()):
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
    if channel not in Invitation.Channel.values:
        raise ValidationFailed(fields={"channel": [f"Must be one of: {', '.join(Invitation.Channel.values)}."]})
    if not LOCALE_RE.fullmatch(locale):
        raise ValidationFailed(fields={"locale": ["Enter a language tag such as en or pt-BR."]})
    recipient = normalize_recipient(channel=channel, recipient=recipient)
    max_key_length = Invitation._meta.get_field("idempotency_key").max_length
    if idempotency_key and len(idempotency_key) > max_key_length:
        raise ValidationFailed(fields={"Idempotency-Key": [f"Use at most {max_key_length} characters."]})
    workflow = _workflow_for(organization=organization, workflow_token=workflow_token)
    replay = partial(
        _replay,
        organization=organization,
        livemode=livemode,
        idempotency_key=idempotency_key,
        request={
            "channel": channel,
            "recipient": recipient,
            "reference": reference,
            "locale": locale,
            "workflow_id": workflow.pk,
        },
    )
    if idempotency_key and (replayed := replay()) is not None:
        return replayed
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
            transition_apply(invitation=invitation, to_status=Invitation.Status.PENDING, actor=actor, now=now)
            delivery_attempt_queue(invitation=invitation)
    except IntegrityError:
        if not idempotency_key:
            raise
        # A concurrent request with the same key won the insert; answer with its invitation.
        replayed = replay()
        if replayed is None:
            raise
        return replayed
    return invitation
