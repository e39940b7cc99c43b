"""The one way an invitation's status changes, beside the lifecycle table: apply a move, save it with
``update_fields``, write its audit row through the one audit writer and its outbound webhook event,
all in the caller's transaction and under the caller's row lock."""

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import cache

from django.db import connections, router
from django.db.models import QuerySet

from accounts.principals import Actor
from invitations import lifecycle
from invitations.exceptions import InvalidTransition, InvitationNotFound
from invitations.models import Invitation, InvitationEvent, Workflow
from invitations.reminders import reminder_due_at
from invitations.selectors import InvitationLookup
from invitations.serializers import invitation_to_dict
from invitations.tokens import normalize_token
from ops.sql import Pending, combinable, pending_run, rows_insert, rows_update
from suppressions.selectors import active_suppression_of_table_row
from webhooks.events import EventsToEmit, NewEvent

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
    "invitation.corrected",
    "invitation.canceled",
    "invitation.expired",
]


# The moves told as what was asked for rather than the status entered.
RESENT_REASONS = frozenset({lifecycle.Reason.RESEND, lifecycle.Reason.REMINDER})


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
    elif reason == lifecycle.Reason.RECIPIENT_CORRECTED:
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


# An audit row's columns as a new one writes them: all but its id.
AUDIT_FIELDS = [f.name for f in InvitationEvent._meta.concrete_fields if not f.primary_key]


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
    (unless the caller orders them otherwise) so two lockers of the same rows take them in the same
    order. ``skip_locked`` leaves out the rows another transaction holds instead of waiting."""
    locked = rows.select_for_update(of=("self",), skip_locked=skip_locked).select_related("workflow")
    # Whether the recipient is suppressed, read with the row: a send's rules need it (``recipient_refusal``).
    suppressed = active_suppression_of_table_row("pk", table=Invitation._meta.db_table)
    return locked.annotate(suppression_pk=suppressed).order_by("pk")


def invitation_lock(invitation: Invitation | InvitationLookup) -> Invitation:
    """One invitation's row, locked, with its workflow and organization: one statement, whether the
    invitation is known by its pk or named by an API caller (then InvitationNotFound for any other
    tenant's or mode's, exactly like a missing one)."""
    if not isinstance(invitation, InvitationLookup):
        return invitations_lock(Invitation.objects.filter(pk=invitation.pk).select_related("organization")).get()
    token = normalize_token(invitation.token)
    using = router.db_for_write(Invitation)
    params = [invitation.organization.pk, invitation.livemode, token]
    found = list(Invitation.objects.db_manager(using).raw(_lock_by_token_sql(using), params)) if token else []
    if not found:
        raise InvitationNotFound()
    locked = found[0]
    # The caller's organization is the invitation's: no need to join it. Of the workflow, the
    # representation shows the token; the rest loads if something asks for it.
    locked.organization = invitation.organization
    locked.workflow = Workflow.from_db(using, ["id", "token"], [locked.workflow_id, vars(locked).pop("workflow_token")])
    return locked


@cache
def _lock_by_token_sql(using: str) -> str:
    """What ``invitations_lock`` runs for one tenant's, mode's and token's row, written out: an API
    request's lock costs half as much without the ORM building it each time. One row at most (the
    token is unique): no order to keep."""
    connection = connections[using]
    qn = connection.ops.quote_name
    table = qn(Invitation._meta.db_table)
    # The model's columns named, as the ORM names them: a column a migration adds ahead of this
    # process's code is not read.
    columns = ", ".join(f"{table}.{qn(f.column)}" for f in Invitation._meta.concrete_fields)
    suppressed = active_suppression_of_table_row("pk", table=Invitation._meta.db_table)
    lock = f" FOR UPDATE OF {table}" if connection.features.has_select_for_update_of else ""
    return (
        f"SELECT {columns}, ({suppressed.sql}) AS suppression_pk, workflow.token AS workflow_token "
        f"FROM {table} JOIN {qn(Workflow._meta.db_table)} AS workflow ON workflow.id = {table}.workflow_id "
        f"WHERE {table}.organization_id = %s AND {table}.livemode = %s AND {table}.token = %s{lock}"
    )


def _save_moved(invitations: Sequence[Invitation], fields: list[str]) -> None:
    """New invitations inserted whole; the others' ``fields`` written."""
    existing = [invitation for invitation in invitations if invitation.pk]
    for invitation in invitations:
        if not invitation.pk:
            invitation.save()
    if len(existing) == 1:
        existing[0].save(update_fields=fields)
    elif existing:
        # One UPDATE per distinct set of new values (a bulk resend has one per attempt count, ten at
        # most): Django's bulk_update would build a CASE per row and field, several times slower.
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
    along: Sequence[Pending] = (),
) -> None:
    """Apply one move of the transition table to each invitation, save it, write its audit row and
    its outbound webhook event, and what the caller writes ``along`` with them (the sends it queues):
    on PostgreSQL, for invitations that exist, one statement however many there are; else one UPDATE
    (or INSERT, for new invitations), one INSERT of audit rows and the events' own.

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
    events = EventsToEmit(
        [
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
        now,
    )
    using = router.db_for_write(Invitation)
    if combinable(using) and all(invitation.pk for invitation in invitations):
        # The moves, their audit rows, their events and what the caller writes with them: one statement.
        connection = connections[using]
        writes = [
            rows_update("moved", invitations, fields, connection),
            rows_insert("audit", audits, AUDIT_FIELDS, connection),
        ]
        pending_run(events, *along, using=using, writes=writes)
        return
    _save_moved(invitations, fields)
    InvitationEvent.objects.bulk_create(audits)
    # The events and what goes along: one statement between them on PostgreSQL.
    pending_run(events, *along, using=using)


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
