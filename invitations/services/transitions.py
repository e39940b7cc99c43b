"""The one way an invitation's status changes, beside the lifecycle table: apply a move, save it with
``update_fields``, write its audit row through the one audit writer and its outbound webhook event,
all in the caller's transaction and under the caller's row lock."""

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime

from django.db.models import QuerySet

from accounts.principals import Actor
from invitations import lifecycle
from invitations.exceptions import InvalidTransition, InvitationNotFound
from invitations.models import Invitation, InvitationEvent
from invitations.reminders import reminder_due_at
from invitations.selectors import InvitationLookup
from invitations.serializers import invitation_to_dict
from invitations.tokens import normalize_token
from suppressions.selectors import active_suppression_of_row
from webhooks.events import NewEvent, webhook_events_emit

# Every move the customer's endpoints are told of, as the event type they receive.
INVITATION_EVENT_TYPES = [
    "invitation.created",
    "invitation.sent",
    "invitation.delivered",
    "invitation.opened",
    "invitation.started",
    "invitation.completed",
    "invitation.rejected",
    "invitation.failed",
    "invitation.resent",
    "invitation.corrected",
    "invitation.updated",
    "invitation.canceled",
    "invitation.expired",
]


# The moves told as what was asked for rather than the status entered.
RESENT_REASONS = frozenset({lifecycle.Reason.RESEND, lifecycle.Reason.REMINDER, lifecycle.Reason.EXPIRY_WARNING})


def webhook_event(
    *, invitation: Invitation, from_status: str, to_status: str, reason: lifecycle.Reason, actor: Actor, extra: dict
) -> NewEvent:
    """The outbound event of one move, its payload the invitation as GET shows it now (and ``extra``)."""
    data: dict = {"invitation": invitation_to_dict(invitation), **extra}
    if not from_status:
        event_type = "invitation.created"
    elif reason in RESENT_REASONS:
        event_type = "invitation.resent"
        data["requestedBy"] = {"kind": actor.kind, "label": actor.label}
    elif reason in (lifecycle.Reason.RECIPIENT_CORRECTED, lifecycle.Reason.CHANNEL_FALLBACK):
        event_type = "invitation.corrected"
    else:
        event_type = f"invitation.{to_status}"
    return NewEvent(
        organization_id=invitation.organization_id,
        livemode=invitation.livemode,
        type=event_type,
        subject=invitation.token,
        data=data,
    )


def audit_event(
    *,
    invitation: Invitation,
    from_status: str,
    to_status: str,
    reason: lifecycle.Reason,
    actor: Actor,
    at: datetime,
    message: str = "",
) -> InvitationEvent:
    """The audit row of one change, unsaved: every InvitationEvent is built here, single or bulk."""
    return InvitationEvent(
        invitation=invitation,
        from_status=from_status,
        to_status=to_status,
        reason=lifecycle.Reason(reason),
        message=message,
        actor_kind=actor.kind,
        actor_label=actor.label[:200],
        actor_user_id=actor.user_id,
        actor_api_key_id=actor.api_key_id,
        created_at=at,
    )


def invitations_lock(rows: QuerySet[Invitation], *, skip_locked: bool = False) -> QuerySet[Invitation]:
    """The one way invitation rows are locked until the transaction ends: FOR UPDATE of the
    invitations only (their workflows are read for the webhook payload, not locked), in id order
    so two lockers of the same rows take them in the same order. ``skip_locked`` leaves out the
    rows another transaction holds instead of waiting. Each row carries ``suppression_pk``: whether
    its recipient is suppressed, read with it (a send's rules need it)."""
    locked = rows.select_for_update(of=("self",), skip_locked=skip_locked).select_related("workflow")
    return locked.annotate(suppression_pk=active_suppression_of_row("pk")).order_by("pk")


def invitation_lock(invitation: Invitation | InvitationLookup) -> Invitation:
    """One invitation's row, locked, with its workflow: known by its pk, or named by an API caller
    (then InvitationNotFound for any other tenant's or mode's, exactly like a missing one)."""
    if not isinstance(invitation, InvitationLookup):
        return invitations_lock(Invitation.objects.filter(pk=invitation.pk).select_related("organization")).get()
    token = normalize_token(invitation.token)
    rows = Invitation.objects.filter(organization=invitation.organization, livemode=invitation.livemode, token=token)
    locked = invitations_lock(rows).first() if token else None
    if locked is None:
        raise InvitationNotFound()
    locked.organization = invitation.organization
    return locked


def _save_moved(invitations: Sequence[Invitation], fields: list[str]) -> None:
    """New invitations inserted whole; the others' ``fields`` written, one UPDATE per distinct set
    of new values (a bulk resend has one per attempt count)."""
    existing = [invitation for invitation in invitations if invitation.pk]
    new = [invitation for invitation in invitations if not invitation.pk]
    if len(new) == 1:
        new[0].save()
    elif new:
        Invitation.objects.bulk_create(new)
    if len(existing) == 1:
        existing[0].save(update_fields=fields)
        return
    groups: dict[tuple, list[int]] = defaultdict(list)
    for invitation in existing:
        groups[tuple(getattr(invitation, field) for field in fields)].append(invitation.pk)
    for values, pks in groups.items():
        Invitation.objects.filter(pk__in=pks).update(**dict(zip(fields, values, strict=True)))


def transitions_apply(
    *,
    invitations: Sequence[Invitation],
    to_status: str,
    actor: Actor,
    now: datetime,
    message: str | Callable[[Invitation], str] = "",
    reason: lifecycle.Reason | None = None,
    update_fields: Sequence[str] = (),
    event_data: Callable[[Invitation], dict] | None = None,
) -> None:
    """Apply one move of the transition table to each invitation, save it, write its audit row and
    its outbound webhook event: one UPDATE per distinct set of new values (or an INSERT, for a new
    invitation), one INSERT of audit rows and the events' own statements.

    The caller holds the row locks and the transaction and has set ``update_fields`` on the
    instances; the status, its timestamp and ``updated_at`` are set here. ``message`` is the audit
    row's text, or a function of the invitation giving it; ``event_data`` gives what the webhook
    event's data carries besides the invitation. The next reminder's time follows every move
    (``reminder_due_at``). Raises InvalidTransition, before writing anything, for a move the table
    does not have.
    """
    from_statuses = [invitation.status if invitation.pk else "" for invitation in invitations]
    for from_status in from_statuses:
        if not lifecycle.is_allowed(from_status, to_status):
            raise InvalidTransition(from_status=from_status, to_status=to_status)
    timestamp_field = lifecycle.TIMESTAMP_FIELD.get(to_status)
    fields = sorted(
        {*update_fields, "status", "updated_at", "next_reminder_at", *([timestamp_field] if timestamp_field else [])}
    )
    for invitation in invitations:
        invitation.status = to_status
        invitation.updated_at = now
        if timestamp_field:
            setattr(invitation, timestamp_field, now)
        invitation.next_reminder_at = reminder_due_at(invitation)
    moves = [
        (invitation, from_status, reason or lifecycle.TRANSITIONS[(from_status, to_status)])
        for invitation, from_status in zip(invitations, from_statuses, strict=True)
    ]
    audits = [
        audit_event(
            invitation=invitation,
            from_status=from_status,
            to_status=to_status,
            reason=move_reason,
            actor=actor,
            at=now,
            message=message(invitation) if callable(message) else message,
        )
        for invitation, from_status, move_reason in moves
    ]
    _save_moved(invitations, fields)
    InvitationEvent.objects.bulk_create(audits)
    webhook_events_emit(
        events=[
            webhook_event(
                invitation=invitation,
                from_status=from_status,
                to_status=to_status,
                reason=move_reason,
                actor=actor,
                extra=event_data(invitation) if event_data else {},
            )
            for invitation, from_status, move_reason in moves
        ],
        now=now,
    )


def transition_apply(*, invitation: Invitation, **move) -> Invitation:
    """``transitions_apply`` for one invitation (a new one is inserted whole); returns it."""
    transitions_apply(invitations=[invitation], **move)
    return invitation


def note_record(
    *,
    invitation: Invitation,
    actor: Actor,
    now: datetime,
    reason: lifecycle.Reason,
    message: str = "",
    update_fields: Sequence[str] = (),
    event_type: str = "",
) -> None:
    """Save a change that keeps the status (a late timestamp, a newer error) and audit it; with
    ``event_type`` (invitation.updated), tell the customer's endpoints too.

    The caller holds the row lock and the transaction.
    """
    if update_fields:
        invitation.save(update_fields=sorted({*update_fields, "updated_at"}))
    audit_event(
        invitation=invitation,
        from_status=invitation.status,
        to_status=invitation.status,
        reason=reason,
        actor=actor,
        at=now,
        message=message,
    ).save()
    if event_type:
        webhook_events_emit(
            events=[
                NewEvent(
                    organization_id=invitation.organization_id,
                    livemode=invitation.livemode,
                    type=event_type,
                    subject=invitation.token,
                    data={"invitation": invitation_to_dict(invitation)},
                )
            ]
        )
