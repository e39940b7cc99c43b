"""Canceling an invitation: withdrawn by its sender, for good."""

from django.db import transaction
from django.utils import timezone

from accounts.principals import Actor
from delivery.services.queueing import delivery_attempts_cancel
from invitations import lifecycle
from invitations.exceptions import CannotCancel
from invitations.models import Invitation
from invitations.selectors import InvitationLookup
from invitations.services.transitions import invitation_lock, transition_apply


def invitation_cancel(*, invitation: Invitation | InvitationLookup, actor: Actor) -> Invitation:
    """Move the invitation to `canceled` (terminal) and cancel its sends still queued or retrying.

    Refused with CannotCancel once the recipient has started (or finished), or when already canceled.
    """
    with transaction.atomic():
        # Lock the row: a delivery being accepted, or a resend, must see the cancel or come before it.
        invitation = invitation_lock(invitation)
        if not lifecycle.is_allowed(invitation.status, Invitation.Status.CANCELED):
            raise CannotCancel(status=invitation.status)
        transition_apply(invitation=invitation, to_status=Invitation.Status.CANCELED, actor=actor, now=timezone.now())
        delivery_attempts_cancel(invitation=invitation)
    return invitation
