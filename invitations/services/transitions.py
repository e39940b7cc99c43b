"""The one way an invitation's status changes, beside the lifecycle table: apply a move, save it with
``update_fields``, write its audit row through the one audit writer and its outbound webhook event,
all in the caller's transaction and under the caller's row lock."""

from collections.abc import Callable, Sequence
from datetime import datetime

from accounts.principals import Actor
from invitations import lifecycle
from invitations.exceptions import InvalidTransition, InvitationNotFound
from invitations.models import Invitation, InvitationEvent
from invitations.selectors import InvitationLookup
from invitations.serializers import invitation_to_dict
from webhooks.events import NewEvent, webhook_events_emit

S = Invitation.Status
# Every move the customer's endpoints are told of, as the event type they receive.
EVENT_TYPES = [
    "invitation.created",
    "invitation.sent",
    "invitation.delivered",
    "invitation.opened",
    "invitation.started",
    "invitation.completed",
    "invitation.rejected",
    "invitation.failed",
    "invitation.resent",
    "invitation.canceled",
    "invitation.expired",
]


def webhook_event(*, invitation: Invitation, from_status: str, to_status: str, actor: Actor) -> NewEvent:
    """The outbound event of one move, its payload the invitation as GET shows it now."""
    data: dict = {"invitation": invitation_to_dict(invitation)}
    if not from_status:
        event_type = "invitation.created"
    elif (from_status, to_status) == (S.SENT, S.PENDING):
        event_type = "invitation.resent"
        data["requestedBy"] = {"kind": actor.kind, "label": actor.label}
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


def invitation_lock(invitation: Invitation | InvitationLookup) -> Invitation:
    """The invitation's row, locked until the transaction ends, with its workflow and organization:
    one statement, whether the invitation is known by its pk or named by an API caller (then
    InvitationNotFound for any other tenant's or mode's, exactly like a missing one)."""
    if not isinstance(invitation, InvitationLookup):
        return (
            Invitation.objects.select_for_update(of=("self",))
            .select_related("workflow", "organization")
            .get(pk=invitation.pk)
        )
    # The caller's organization is the invitation's: no need to join it.
    locked = invitation.queryset().select_for_update(of=("self",)).select_related("workflow").first()
    if locked is None:
        raise InvitationNotFound()
    locked.organization = invitation.organization
    return locked


def transition_apply(
    *,
    invitation: Invitation,
    to_status: str,
    actor: Actor,
    now: datetime,
    message: str = "",
    reason: lifecycle.Reason | None = None,
    update_fields: Sequence[str] = (),
) -> Invitation:
    """Apply one move of the transition table, save it, and write its audit row.

    A new invitation (no pk yet) is inserted whole. Raises InvalidTransition for a move the table
    does not have. The caller holds the row lock and the transaction.
    """
    from_status = invitation.status if invitation.pk else ""
    if not lifecycle.is_allowed(from_status, to_status):
        raise InvalidTransition(from_status=from_status, to_status=to_status)
    fields = {*update_fields, "status"}
    invitation.status = to_status
    timestamp_field = lifecycle.TIMESTAMP_FIELD.get(to_status)
    if timestamp_field:
        setattr(invitation, timestamp_field, now)
        fields.add(timestamp_field)
    if invitation.pk:
        invitation.save(update_fields=sorted({*fields, "updated_at"}))
    else:
        invitation.save()
    audit_event(
        invitation=invitation,
        from_status=from_status,
        to_status=to_status,
        reason=reason or lifecycle.TRANSITIONS[(from_status, to_status)],
        actor=actor,
        at=now,
        message=message,
    ).save()
    webhook_events_emit(
        events=[webhook_event(invitation=invitation, from_status=from_status, to_status=to_status, actor=actor)],
        now=now,
    )
    return invitation


def transition_apply_many(
    *,
    invitations: Sequence[Invitation],
    to_status: str,
    actor: Actor,
    now: datetime,
    message_for: Callable[[Invitation], str],
    updates: dict,
) -> None:
    """``transition_apply`` for many rows making the same move: one UPDATE and one INSERT of audit rows.

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
            audit_event(
                invitation=invitation,
                from_status=from_status,
                to_status=to_status,
                reason=lifecycle.TRANSITIONS[(from_status, to_status)],
                actor=actor,
                at=now,
                message=message_for(invitation),
            )
            for invitation, from_status in zip(invitations, from_statuses, strict=True)
        ]
    )
    webhook_events_emit(
        events=[
            webhook_event(invitation=invitation, from_status=from_status, to_status=to_status, actor=actor)
            for invitation, from_status in zip(invitations, from_statuses, strict=True)
        ],
        now=now,
    )


def note_record(
    *,
    invitation: Invitation,
    actor: Actor,
    now: datetime,
    reason: lifecycle.Reason,
    message: str = "",
    update_fields: Sequence[str] = (),
) -> None:
    """Save a change that keeps the status (a late timestamp, a newer error) and audit it.

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
