"""The invitation lifecycle and its rules. Views, admin actions, commands and delivery call these.

transitions  the one way a status changes, and the one audit writer
create       creating an invitation, its input made canonical, Idempotency-Key replays
resend       the resend rules, one invitation, a batch, and the bulk resend
outcomes     what delivery reports about a send, turned into a status
recipient    the recipient's link and the dossier events
cancel       withdrawing an invitation, or many
correct      a new recipient and a send to it, or new details without one
reminders    the automatic reminders the periodic job sends
"""

from invitations.services.cancel import InvitationCancelResult, invitation_cancel, invitation_cancel_many
from invitations.services.correct import invitation_update
from invitations.services.create import invitation_create, normalize_recipient, workflow_get_default
from invitations.services.outcomes import (
    DeliveryOutcome,
    invitation_delivery_failed,
    invitation_delivery_reported,
    invitation_delivery_wanted,
    invitations_delivery_accepted,
)
from invitations.services.recipient import (
    DOSSIER_EVENT_STATUS,
    invitation_dossier_event_record,
    invitation_link_open,
)
from invitations.services.resend import (
    BulkResendSummary,
    InvitationResendResult,
    invitation_resend,
    invitation_resend_bulk,
    invitation_resend_many,
    resend_refusal,
)
from invitations.services.transitions import audit_event, invitation_lock, transition_apply

__all__ = [
    "DOSSIER_EVENT_STATUS",
    "BulkResendSummary",
    "DeliveryOutcome",
    "InvitationResendResult",
    "audit_event",
    "InvitationCancelResult",
    "invitation_cancel",
    "invitation_cancel_many",
    "invitation_create",
    "invitation_delivery_failed",
    "invitation_delivery_reported",
    "invitation_delivery_wanted",
    "invitation_dossier_event_record",
    "invitation_link_open",
    "invitation_lock",
    "invitation_resend",
    "invitation_resend_bulk",
    "invitation_resend_many",
    "invitation_update",
    "invitations_delivery_accepted",
    "normalize_recipient",
    "resend_refusal",
    "transition_apply",
    "workflow_get_default",
]
