"""Canceling invitations: withdrawn by their sender, for good; one through the API, many through
the support console's bulk action, under the same rule."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from accounts.principals import Actor
from delivery.services.queueing import delivery_attempts_cancel
from invitations import lifecycle
from invitations.exceptions import CannotCancel
from invitations.models import Invitation
from invitations.selectors import InvitationLookup
from invitations.services.transitions import invitation_lock, invitations_lock, transitions_apply


def _refusal(invitation: Invitation) -> CannotCancel | None:
    """Refused once the recipient has started (or finished), or when already canceled."""
    if lifecycle.is_allowed(invitation.status, Invitation.Status.CANCELED):
        return None
    return CannotCancel(status=invitation.status)


def _withdraw(invitations: Sequence[Invitation], *, actor: Actor, now: datetime) -> None:
    """The locked invitations move to `canceled` (terminal); their sends still queued or retrying are
    canceled with them, and a scheduled first send never goes."""
    if invitations:
        for invitation in invitations:
            invitation.send_due_at = None
        transitions_apply(
            invitations=invitations,
            to_status=Invitation.Status.CANCELED,
            actor=actor,
            now=now,
            update_fields=("send_due_at",),
        )
        delivery_attempts_cancel(invitation_ids=[invitation.pk for invitation in invitations])


def invitation_cancel(*, invitation: Invitation | InvitationLookup, actor: Actor) -> Invitation:
    """Cancel one invitation; CannotCancel says why not."""
    with transaction.atomic():
        # Lock the row: a delivery being accepted, or a resend, must see the cancel or come before it.
        invitation = invitation_lock(invitation)
        refusal = _refusal(invitation)
        if refusal is not None:
            raise refusal
        _withdraw([invitation], actor=actor, now=timezone.now())
    return invitation


@dataclass(frozen=True)
class InvitationCancelResult:
    invitation_id: int
    token: str
    refusal: CannotCancel | None  # None: canceled


def invitation_cancel_many(*, invitation_ids: Sequence[int], actor: Actor) -> list[InvitationCancelResult]:
    """Cancel many invitations in one transaction: each canceled, or refused with the rule's reason;
    one that no longer exists is left out. The rows' locks are waited for, in id order."""
    with transaction.atomic():
        invitations = list(invitations_lock(Invitation.objects.filter(pk__in=invitation_ids)))
        refusals = {invitation.pk: _refusal(invitation) for invitation in invitations}
        _withdraw(
            [invitation for invitation in invitations if refusals[invitation.pk] is None],
            actor=actor,
            now=timezone.now(),
        )
    return [
        InvitationCancelResult(invitation.pk, invitation.token, refusals[invitation.pk]) for invitation in invitations
    ]
