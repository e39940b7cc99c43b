"""The invitation state machine as data: which moves exist, and why they happen."""

from invitations.models import Invitation, InvitationEvent

S = Invitation.Status


# Why an audit row was written.
Reason = InvitationEvent.Reason


# (from, to) -> the reason recorded in the audit row. Anything not listed is forbidden.
TRANSITIONS: dict[tuple[str, str], Reason] = {
    ("", S.PENDING): Reason.CREATED,
    (S.PENDING, S.SENT): Reason.PROVIDER_ACCEPTED,
    (S.PENDING, S.FAILED): Reason.DELIVERY_FAILED,
    (S.FAILED, S.SENT): Reason.RETRY_ACCEPTED,
    (S.SENT, S.PENDING): Reason.RESEND,
    # An automatic reminder also goes to a delivered invitation nobody has opened.
    (S.DELIVERED, S.PENDING): Reason.REMINDER,
    # A corrected recipient gets a new send, whatever became of the last one.
    (S.PENDING, S.PENDING): Reason.RECIPIENT_CORRECTED,
    (S.FAILED, S.PENDING): Reason.RECIPIENT_CORRECTED,
    (S.SENT, S.DELIVERED): Reason.DELIVERED,
    (S.SENT, S.FAILED): Reason.DELIVERY_FAILED,
    (S.SENT, S.OPENED): Reason.OPENED,
    (S.DELIVERED, S.OPENED): Reason.OPENED,
    # The recipient started the flow (from an earlier message) while a send was still in flight
    # or being retried: they are in, whatever the delivery says.
    (S.PENDING, S.STARTED): Reason.DOSSIER_STARTED,
    (S.FAILED, S.STARTED): Reason.DOSSIER_STARTED,
    (S.SENT, S.STARTED): Reason.DOSSIER_STARTED,
    (S.DELIVERED, S.STARTED): Reason.DOSSIER_STARTED,
    (S.OPENED, S.STARTED): Reason.DOSSIER_STARTED,
    (S.STARTED, S.COMPLETED): Reason.DOSSIER_COMPLETED,
    (S.STARTED, S.REJECTED): Reason.DOSSIER_REJECTED,
    # Withdrawn by the sender (API, admin): terminal. Queued or retrying sends are canceled with it.
    **{(status, S.CANCELED): Reason.CANCELED for status in (S.PENDING, S.SENT, S.DELIVERED, S.OPENED, S.FAILED)},
}

# The timestamp each status sets when it is entered.
TIMESTAMP_FIELD: dict[str, str] = {
    S.SENT: "sent_at",
    S.DELIVERED: "delivered_at",
    S.OPENED: "opened_at",
    S.STARTED: "started_at",
    S.COMPLETED: "completed_at",
    S.REJECTED: "rejected_at",
    S.CANCELED: "canceled_at",
}

# A report that arrives after the invitation moved past it fills its timestamp under this reason.
LATE_REASON: dict[str, Reason] = {S.DELIVERED: Reason.DELIVERED_LATE, S.OPENED: Reason.OPENED_LATE}

# How far along the recipient is; engagement never moves backwards.
PROGRESS: dict[str, int] = {
    S.PENDING: 0,
    S.FAILED: 0,
    S.SENT: 1,
    S.DELIVERED: 2,
    S.OPENED: 3,
    S.STARTED: 4,
    S.COMPLETED: 5,
    S.REJECTED: 5,
    S.CANCELED: 5,
}


def is_allowed(from_status: str, to_status: str) -> bool:
    return (from_status, to_status) in TRANSITIONS


def is_behind(status: str, than: str) -> bool:
    """Whether an invitation in ``status`` is not yet as far along as ``than``."""
    return PROGRESS[status] < PROGRESS[than]
