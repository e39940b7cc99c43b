"""The recipient's side: following the link, and the dossier events of the verification flow."""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from accounts.principals import Actor
from api.errors import ValidationFailed
from invitations import lifecycle
from invitations.exceptions import InvitationNotFound
from invitations.models import DossierEvent, Invitation
from invitations.selectors import invitation_link_refusal
from invitations.serializers import invitation_to_dict
from invitations.services.transitions import invitations_lock, note_record, transition_apply
from invitations.tokens import normalize_token
from webhooks.events import NewEvent, webhook_events_emit


def _lock_by_token(token: str) -> Invitation:
    """The invitation a public token names (adi_xxx or xxx), locked, with its workflow; or a 404."""
    normalized = normalize_token(token)
    invitation = invitations_lock(Invitation.objects.filter(token=normalized)).first() if normalized else None
    if invitation is None:
        raise InvitationNotFound()
    return invitation


def invitation_link_open(*, token: str, actor: Actor) -> Invitation:
    """The recipient followed their link: `sent` or `delivered` becomes `opened`.

    Raises InvitationNotFound for a token that does not exist and InvitationLinkExpired once the
    invitation has expired. Any other status is left as it is (the link still works).
    """
    with transaction.atomic():
        # Lock the row: a provider's "opened" event for the same invitation may arrive at once.
        invitation = _lock_by_token(token)
        now = timezone.now()
        refusal = invitation_link_refusal(invitation=invitation, now=now)
        if refusal is not None:
            raise refusal
        if lifecycle.is_allowed(invitation.status, Invitation.Status.OPENED):
            transition_apply(
                invitation=invitation,
                to_status=Invitation.Status.OPENED,
                actor=actor,
                now=now,
                reason=lifecycle.Reason.LINK_OPENED,
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
    if lifecycle.is_behind(invitation.status, S.STARTED):
        # The recipient is in the flow whatever the delivery said; an event that skipped ahead
        # (completed before created) still passes through `started`.
        invitation.error_message = ""
        transition_apply(
            invitation=invitation,
            to_status=S.STARTED,
            actor=actor,
            now=now,
            message=event_type,
            update_fields=(*fields, "error_message"),
        )
        fields = ()
        changed = True
    if target != S.STARTED and lifecycle.is_allowed(invitation.status, target):
        transition_apply(
            invitation=invitation, to_status=target, actor=actor, now=now, message=event_type, update_fields=fields
        )
        return True
    if fields:
        note_record(
            invitation=invitation,
            actor=actor,
            now=now,
            reason=lifecycle.Reason.DOSSIER_LINKED,
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
    with transaction.atomic():
        # Lock the invitation: the same event delivered twice at once, or two events of one
        # dossier, must be applied one after the other against the status each one sees.
        invitation = _lock_by_token(invitation_token)
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


# Once expired, these statuses say nothing more: the recipient finished, or was refused.
NOT_ANNOUNCED_WHEN_EXPIRED = (Invitation.Status.COMPLETED, Invitation.Status.REJECTED, Invitation.Status.CANCELED)


def invitations_expired_announce(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Emit invitation.expired, once, for each invitation whose expiresAt has passed and that was
    not completed, rejected or canceled; returns how many."""
    now = now or timezone.now()
    with transaction.atomic():
        # skip_locked: two sweeps at once each announce their own rows, never the same one twice.
        expired = Invitation.objects.filter(expires_at__lte=now, expiry_announced_at__isnull=True).exclude(
            status__in=NOT_ANNOUNCED_WHEN_EXPIRED
        )
        due = list(invitations_lock(expired, skip_locked=True).order_by("expires_at")[:limit])
        if not due:
            return 0
        Invitation.objects.filter(pk__in=[invitation.pk for invitation in due]).update(expiry_announced_at=now)
        webhook_events_emit(
            events=[
                NewEvent(
                    organization_id=invitation.organization_id,
                    livemode=invitation.livemode,
                    type="invitation.expired",
                    subject=invitation.token,
                    data={"invitation": invitation_to_dict(invitation)},
                )
                for invitation in due
            ],
            now=now,
        )
    return len(due)
