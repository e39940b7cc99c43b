"""The invitation state machine as data: which moves exist, and why they happen."""

from invitations.models import Invitation

S = Invitation.Status

# (from, to) -> the reason recorded in the audit row. Anything not listed is forbidden.
TRANSITIONS: dict[tuple[str, str], str] = {
    ("", S.PENDING): "created",
    (S.PENDING, S.SENT): "provider_accepted",
    (S.PENDING, S.FAILED): "delivery_failed",
    (S.FAILED, S.SENT): "retry_accepted",
    (S.SENT, S.PENDING): "resend",
    (S.SENT, S.DELIVERED): "delivered",
    (S.SENT, S.FAILED): "delivery_failed",
    (S.SENT, S.OPENED): "opened",
    (S.DELIVERED, S.OPENED): "opened",
    # The recipient started the flow (from an earlier message) while a send was still in flight
    # or being retried: they are in, whatever the delivery says.
    (S.PENDING, S.STARTED): "dossier_started",
    (S.FAILED, S.STARTED): "dossier_started",
    (S.SENT, S.STARTED): "dossier_started",
    (S.DELIVERED, S.STARTED): "dossier_started",
    (S.OPENED, S.STARTED): "dossier_started",
    (S.STARTED, S.COMPLETED): "dossier_completed",
    (S.STARTED, S.REJECTED): "dossier_rejected",
}

# The timestamp each status sets when it is entered.
TIMESTAMP_FIELD = {
    S.SENT: "sent_at",
    S.DELIVERED: "delivered_at",
    S.OPENED: "opened_at",
    S.STARTED: "started_at",
    S.COMPLETED: "completed_at",
    S.REJECTED: "rejected_at",
}

# How far along the recipient is; engagement never moves backwards.
PROGRESS = {
    S.PENDING: 0,
    S.FAILED: 0,
    S.SENT: 1,
    S.DELIVERED: 2,
    S.OPENED: 3,
    S.STARTED: 4,
    S.COMPLETED: 5,
    S.REJECTED: 5,
}


def is_allowed(from_status: str, to_status: str) -> bool:
    return (from_status, to_status) in TRANSITIONS
