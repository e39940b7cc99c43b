"""The invitation lifecycle and its rules. Views, admin actions and commands call these."""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import Organization
from accounts.principals import Actor
from invitations import lifecycle
from invitations.exceptions import (
    CooldownActive,
    InvalidStatus,
    InvalidTransition,
    InvitationExpired,
    InvitationLinkExpired,
    InvitationNotFound,
    MaxAttemptsReached,
)
from invitations.models import DossierEvent, Invitation, InvitationEvent, Workflow
from invitations.selectors import normalize_token
from invitations_project.errors import ApiError, ValidationFailed
from invitations_project.validators import LOCALE_RE, normalize_email, normalize_phone


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


def _transition_many(
    *,
    invitations: Sequence[Invitation],
    to_status: str,
    actor: Actor,
    now: datetime,
    message_for: Callable[[Invitation], str],
    updates: dict,
) -> None:
    """``_transition`` for many rows making the same move: one UPDATE and one INSERT of audit rows.

    The caller holds the row locks and the transaction and has already set the new values on the
    instances; ``updates`` is what the UPDATE writes for every row (expressions allowed).
    """
    if not invitations:
        return
    for invitation in invitations:
        if not lifecycle.is_allowed(invitation.status, to_status):
            raise InvalidTransition(from_status=invitation.status, to_status=to_status)
    from_statuses = [invitation.status for invitation in invitations]
    fields = {**updates, "status": to_status, "updated_at": now}
    timestamp_field = lifecycle.TIMESTAMP_FIELD.get(to_status)
    if timestamp_field:
        fields[timestamp_field] = now
    Invitation.objects.filter(pk__in=[invitation.pk for invitation in invitations]).update(**fields)
    for invitation in invitations:
        invitation.status = to_status
        invitation.updated_at = now
        if timestamp_field:
            setattr(invitation, timestamp_field, now)
    InvitationEvent.objects.bulk_create(
        [
            InvitationEvent(
                invitation=invitation,
                from_status=from_status,
                to_status=to_status,
                reason=lifecycle.TRANSITIONS[(from_status, to_status)],
                message=message_for(invitation),
                actor_kind=actor.kind,
                actor_label=actor.label[:200],
                actor_user_id=actor.user_id,
                actor_api_key_id=actor.api_key_id,
                created_at=now,
            )
            for invitation, from_status in zip(invitations, from_statuses, strict=True)
        ]
    )


def _lock(invitation: Invitation) -> Invitation:
    # Lock the invitation row before checking any rule that depends on it: two concurrent
    # resends must not both see "sent" and both enqueue a delivery.
    return (
        Invitation.objects.select_for_update(of=("self",))
        .select_related("workflow", "organization")
        .get(pk=invitation.pk)
    )


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
    from delivery.services import delivery_attempt_queue

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
            _transition(invitation=invitation, to_status=Invitation.Status.PENDING, actor=actor, now=now)
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


def _start_next_attempt(invitation: Invitation) -> None:
    """What a resend changes on the locked row, besides its status: one more attempt, not yet sent."""
    invitation.sent_at = None
    invitation.delivery_attempts += 1
    invitation.error_message = ""


def _next_attempt_message(invitation: Invitation) -> str:
    return f"Send attempt {invitation.delivery_attempts} requested."


def invitation_resend(*, invitation: Invitation, actor: Actor) -> Invitation:
    """Move a `sent` invitation back to `pending` and queue a fresh delivery after commit."""
    from delivery.services import delivery_attempt_queue

    with transaction.atomic():
        invitation = _lock(invitation)
        now = timezone.now()
        refusal = resend_refusal(invitation=invitation, now=now)
        if refusal is not None:
            raise refusal
        _start_next_attempt(invitation)
        _transition(
            invitation=invitation,
            to_status=Invitation.Status.PENDING,
            actor=actor,
            now=now,
            message=_next_attempt_message(invitation),
            update_fields=("sent_at", "delivery_attempts", "error_message"),
        )
        delivery_attempt_queue(invitation=invitation)
    return invitation


class ResendOutcome:
    """What happened to one invitation of a bulk resend. ``code`` is one of ``RESEND_OUTCOMES``."""

    RESENT = "resent"
    COOLDOWN = "cooldown"
    CAPPED = "capped"
    EXPIRED = "expired"
    WRONG_STATUS = "wrong_status"
    BUSY = "busy"
    NOT_FOUND = "not_found"
    ERROR = "error"


# In the order a summary lists them.
RESEND_OUTCOMES = (
    ResendOutcome.RESENT,
    ResendOutcome.COOLDOWN,
    ResendOutcome.CAPPED,
    ResendOutcome.EXPIRED,
    ResendOutcome.WRONG_STATUS,
    ResendOutcome.BUSY,
    ResendOutcome.NOT_FOUND,
    ResendOutcome.ERROR,
)

_REFUSAL_OUTCOMES: dict[type[ApiError], str] = {
    CooldownActive: ResendOutcome.COOLDOWN,
    MaxAttemptsReached: ResendOutcome.CAPPED,
    InvitationExpired: ResendOutcome.EXPIRED,
    InvalidStatus: ResendOutcome.WRONG_STATUS,
}


def resend_outcome_code(refusal: Exception) -> str:
    """The bulk-resend outcome a refusal of ``resend_refusal`` or ``invitation_resend`` stands for."""
    for error_class, code in _REFUSAL_OUTCOMES.items():
        if isinstance(refusal, error_class):
            return code
    if isinstance(refusal, InvalidTransition):
        return ResendOutcome.WRONG_STATUS
    return ResendOutcome.ERROR


@dataclass(frozen=True)
class InvitationResendResult:
    invitation_id: int
    token: str
    outcome: str
    message: str = ""
    delivery_attempts: int | None = None


_BULK_FIELDS = (
    "id",
    "token",
    "status",
    "channel",
    "recipient",
    "livemode",
    "delivery_attempts",
    "sent_at",
    "expires_at",
)


def invitation_resend_many(
    *,
    invitation_ids: Sequence[int],
    actor: Actor,
    dry_run: bool = False,
    on_enqueued: Callable[[bool, int], None] | None = None,
) -> list[InvitationResendResult]:
    """``invitation_resend`` for a batch: the same rules (``resend_refusal``), audit rows and delivery
    attempts, in one transaction with one UPDATE, two INSERTs and one Redis pipeline after commit.

    Rows another transaction holds (a concurrent API resend, say) are skipped rather than waited
    for and come back ``busy``, unchanged. With ``dry_run`` nothing is locked or written and the
    results say what a real run would do now. ``on_enqueued`` hears after commit whether Redis
    took the deliveries (when it did not, the attempts stay queued for the sweeper).
    """
    from delivery.services import delivery_attempt_queue_many

    wanted = list(dict.fromkeys(invitation_ids))
    if not wanted:
        return []
    with transaction.atomic():
        rows = Invitation.objects.filter(pk__in=wanted).only(*_BULK_FIELDS).order_by("pk")
        if not dry_run:
            # Lock the rows before checking the rules that depend on them, as invitation_resend does;
            # skip_locked so a bulk run never waits on (or deadlocks with) a resend in progress.
            rows = rows.select_for_update(skip_locked=True, of=("self",))
        invitations = {invitation.pk: invitation for invitation in rows}
        now = timezone.now()
        results: dict[int, InvitationResendResult] = {}
        eligible: list[Invitation] = []
        for invitation in invitations.values():
            refusal = resend_refusal(invitation=invitation, now=now)
            if refusal is None:
                eligible.append(invitation)
            else:
                results[invitation.pk] = InvitationResendResult(
                    invitation_id=invitation.pk,
                    token=invitation.token,
                    outcome=resend_outcome_code(refusal),
                    message=str(refusal),
                    delivery_attempts=invitation.delivery_attempts,
                )
        if not dry_run and eligible:
            for invitation in eligible:
                _start_next_attempt(invitation)
            _transition_many(
                invitations=eligible,
                to_status=Invitation.Status.PENDING,
                actor=actor,
                now=now,
                message_for=_next_attempt_message,
                updates={"sent_at": None, "delivery_attempts": F("delivery_attempts") + 1, "error_message": ""},
            )
            delivery_attempt_queue_many(invitations=eligible, on_enqueued=on_enqueued)
        for invitation in eligible:
            results[invitation.pk] = InvitationResendResult(
                invitation_id=invitation.pk,
                token=invitation.token,
                outcome=ResendOutcome.RESENT,
                message=(
                    f"Would queue send attempt {invitation.delivery_attempts + 1}."
                    if dry_run
                    else f"Send attempt {invitation.delivery_attempts} queued."
                ),
                delivery_attempts=invitation.delivery_attempts,
            )
        missing = [pk for pk in wanted if pk not in invitations]
        if missing:
            # Not returned under skip_locked: held by another transaction, or deleted meanwhile.
            existing = dict(Invitation.objects.filter(pk__in=missing).values_list("pk", "token"))
            for pk in missing:
                if pk in existing:
                    results[pk] = InvitationResendResult(
                        invitation_id=pk,
                        token=existing[pk],
                        outcome=ResendOutcome.BUSY,
                        message="Skipped: another transaction (a resend in progress, say) holds this invitation.",
                    )
                else:
                    results[pk] = InvitationResendResult(
                        invitation_id=pk, token="", outcome=ResendOutcome.NOT_FOUND, message="No such invitation."
                    )
    return [results[pk] for pk in wanted]


def _note(
    *,
    invitation: Invitation,
    actor: Actor,
    now: datetime,
    reason: str,
    message: str = "",
    update_fields: tuple[str, ...] = (),
) -> None:
    """Save a change that keeps the status (a late timestamp, a newer error) and audit it.

    The caller holds the row lock and the transaction.
    """
    if update_fields:
        invitation.save(update_fields=sorted({*update_fields, "updated_at"}))
    InvitationEvent.objects.create(
        invitation=invitation,
        from_status=invitation.status,
        to_status=invitation.status,
        reason=reason,
        message=message,
        actor_kind=actor.kind,
        actor_label=actor.label[:200],
        actor_user_id=actor.user_id,
        actor_api_key_id=actor.api_key_id,
        created_at=now,
    )


def _is_current(invitation: Invitation, attempt_number: int | None) -> bool:
    """Whether an outcome of this send attempt may still change the invitation.

    Only the latest attempt counts: what happens to an older message cannot undo a newer send.
    """
    return attempt_number is None or attempt_number == invitation.delivery_attempts


def invitation_delivery_wanted(*, invitation: Invitation, attempt_number: int) -> bool:
    """Whether this send is still needed: it is the invitation's latest attempt and the invitation
    still waits for it (`pending`, or `failed` and being retried). A recipient who has already
    started, or a newer resend, makes it unnecessary.

    `invitation` is the row as the caller has just read it (the delivery job loads it with the
    attempt it claimed). This is a check before sending, not a lock: a change that lands after it is
    caught by `invitation_delivery_accepted`, which decides under the row lock.
    """
    return invitation.delivery_attempts == attempt_number and invitation.status in (
        Invitation.Status.PENDING,
        Invitation.Status.FAILED,
    )


def invitation_delivery_accepted(
    *, invitation_id: int, actor: Actor, provider_message_id: str = "", attempt_number: int | None = None
) -> Invitation:
    """The provider accepted a message: `pending` or `failed` becomes `sent`.

    Anything else means a later event already moved the invitation on, or the message belongs to
    an older attempt; it is left as it is.
    """
    # No savepoint: inside the delivery job's transaction an error here rolls the whole outcome back.
    with transaction.atomic(savepoint=False):
        # Lock the invitation row (only it: nothing here needs its workflow or organization) before
        # checking that this attempt is current: a resend or a provider event may be changing it.
        invitation = Invitation.objects.select_for_update().get(pk=invitation_id)
        if _is_current(invitation, attempt_number) and invitation.status in (
            Invitation.Status.PENDING,
            Invitation.Status.FAILED,
        ):
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


def invitation_delivery_failed(
    *, invitation_id: int, actor: Actor, error_message: str, permanent: bool, attempt_number: int | None = None
) -> Invitation:
    """A delivery failed: the invitation shows `failed` with the error until a retry is accepted.

    `permanent` says no retry follows (the provider refused the message, or retries ran out).
    """
    with transaction.atomic():
        invitation = _lock(Invitation(pk=invitation_id))
        if not _is_current(invitation, attempt_number):
            return invitation
        now = timezone.now()
        reason = "delivery_failed_permanently" if permanent else "delivery_failed"
        invitation.error_message = error_message
        if invitation.status in (Invitation.Status.PENDING, Invitation.Status.SENT):
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
            _note(
                invitation=invitation,
                actor=actor,
                now=now,
                reason=reason,
                message=error_message,
                update_fields=("error_message",),
            )
    return invitation


def invitation_delivery_event(
    *,
    invitation_id: int,
    attempt_number: int,
    to_status: str,
    actor: Actor,
    message: str = "",
    permanent: bool = False,
) -> bool:
    """A provider reported what became of a sent message: `delivered`, `opened` or `failed`.

    Only the invitation's latest attempt counts, and the status only moves forward: an event that
    arrives late (delivered after opened) fills its timestamp if it is missing and leaves the
    status alone. Returns whether the invitation changed.
    """
    S = Invitation.Status
    with transaction.atomic():
        # Lock the row: a resend, the recipient's click and other provider events change the same
        # status, and "is this the latest attempt / is this forward" must hold until we write.
        invitation = _lock(Invitation(pk=invitation_id))
        if not _is_current(invitation, attempt_number):
            return False
        now = timezone.now()
        current = invitation.status
        if to_status == S.FAILED:
            if current != S.SENT:
                # delivered, opened or later: the recipient got it; a failure cannot undo that.
                return False
            invitation.error_message = message
            _transition(
                invitation=invitation,
                to_status=S.FAILED,
                actor=actor,
                now=now,
                message=message,
                reason="delivery_failed_permanently" if permanent else "delivery_failed",
                update_fields=("error_message",),
            )
            return True
        if lifecycle.is_allowed(current, to_status):
            _transition(invitation=invitation, to_status=to_status, actor=actor, now=now, message=message)
            return True
        timestamp_field = lifecycle.TIMESTAMP_FIELD.get(to_status)
        if (
            timestamp_field
            and current not in (S.PENDING, S.FAILED)
            and lifecycle.PROGRESS[current] > lifecycle.PROGRESS[to_status]
            and getattr(invitation, timestamp_field) is None
        ):
            setattr(invitation, timestamp_field, now)
            _note(
                invitation=invitation,
                actor=actor,
                now=now,
                reason=f"{to_status}_late",
                message=f"Reported after the invitation was {current}; status kept.",
                update_fields=(timestamp_field,),
            )
            return True
        return False


def invitation_link_open(*, token: str, actor: Actor) -> Invitation:
    """The recipient followed their link: `sent` or `delivered` becomes `opened`.

    Raises InvitationNotFound for a token that does not exist and InvitationLinkExpired once the
    invitation has expired. Any other status is left as it is (the link still works).
    """
    normalized = normalize_token(token)
    if normalized is None:
        raise InvitationNotFound()
    with transaction.atomic():
        # Lock the row: a provider's "opened" event for the same invitation may arrive at once.
        invitation = (
            Invitation.objects.select_for_update(of=("self",))
            .select_related("workflow")
            .filter(token=normalized)
            .first()
        )
        if invitation is None:
            raise InvitationNotFound()
        now = timezone.now()
        if invitation.expires_at <= now:
            raise InvitationLinkExpired()
        if invitation.status in (Invitation.Status.SENT, Invitation.Status.DELIVERED):
            _transition(
                invitation=invitation,
                to_status=Invitation.Status.OPENED,
                actor=actor,
                now=now,
                reason="link_opened",
            )
    return invitation


# What each dossier event means for the invitation.
DOSSIER_EVENT_STATUS = {
    "dossier.created": Invitation.Status.STARTED,
    "dossier.open": Invitation.Status.STARTED,
    "dossier.completed": Invitation.Status.COMPLETED,
    "dossier.approved": Invitation.Status.COMPLETED,
    "dossier.rejected": Invitation.Status.REJECTED,
}


def _dossier_apply(*, invitation: Invitation, event_type: str, dossier_token: str, actor: Actor, now: datetime) -> bool:
    S = Invitation.Status
    target = DOSSIER_EVENT_STATUS[event_type]
    changed = False
    fields: tuple[str, ...] = ()
    # The first dossier is the recipient's link: a later event, or a resend, never replaces it.
    if dossier_token and not invitation.dossier_token:
        invitation.dossier_token = dossier_token
        fields = ("dossier_token",)
    if lifecycle.PROGRESS[invitation.status] < lifecycle.PROGRESS[S.STARTED]:
        # The recipient is in the flow whatever the delivery said; an event that skipped ahead
        # (completed before created) still passes through `started`.
        invitation.error_message = ""
        _transition(
            invitation=invitation,
            to_status=S.STARTED,
            actor=actor,
            now=now,
            message=event_type,
            update_fields=(*fields, "error_message"),
        )
        fields = ()
        changed = True
    if target in (S.COMPLETED, S.REJECTED) and invitation.status == S.STARTED:
        _transition(
            invitation=invitation, to_status=target, actor=actor, now=now, message=event_type, update_fields=fields
        )
        return True
    if fields:
        _note(
            invitation=invitation,
            actor=actor,
            now=now,
            reason="dossier_linked",
            message=f"{event_type}: dossier {dossier_token}",
            update_fields=fields,
        )
        changed = True
    return changed


def invitation_dossier_event_record(
    *,
    event_id: str,
    event_type: str,
    invitation_token: str,
    dossier_token: str,
    occurred_at: datetime,
    actor: Actor,
) -> DossierEvent:
    """Apply one dossier event to its invitation, once per event id.

    created/open move the invitation to `started` and link the dossier; completed/approved to
    `completed`; rejected to `rejected`. The status never moves backwards, and a repeated event id
    returns the first record (with `duplicate` set) without changing anything.
    """
    if event_type not in DOSSIER_EVENT_STATUS:
        raise ValidationFailed(fields={"type": [f"Must be one of: {', '.join(DOSSIER_EVENT_STATUS)}."]})
    normalized = normalize_token(invitation_token)
    if normalized is None:
        raise InvitationNotFound()
    with transaction.atomic():
        # Lock the invitation: the same event delivered twice at once, or two events of one
        # dossier, must be applied one after the other against the status each one sees.
        invitation = Invitation.objects.select_for_update(of=("self",)).filter(token=normalized).first()
        if invitation is None:
            raise InvitationNotFound()
        existing = DossierEvent.objects.filter(event_id=event_id).first()
        if existing is not None:
            existing.duplicate = True
            return existing
        now = timezone.now()
        applied = _dossier_apply(
            invitation=invitation, event_type=event_type, dossier_token=dossier_token, actor=actor, now=now
        )
        event = DossierEvent.objects.create(
            event_id=event_id,
            invitation=invitation,
            type=event_type,
            dossier_token=dossier_token,
            occurred_at=occurred_at,
            received_at=now,
            outcome=DossierEvent.Outcome.APPLIED if applied else DossierEvent.Outcome.IGNORED,
        )
    event.duplicate = False
    return event
