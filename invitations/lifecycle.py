"""The invitation state machine as data: which moves exist, and why they happen."""

from invitations.models import Invitation, InvitationEvent

# Why an audit row was written.
Reason = InvitationEvent.Reason


# (from, to) -> the reason recorded in the audit row. Anything not listed is forbidden.
TRANSITIONS: dict[tuple[str, str], Reason] = {
    ("", Invitation.Status.PENDING): Reason.CREATED,
    (Invitation.Status.PENDING, Invitation.Status.SENT): Reason.PROVIDER_ACCEPTED,
    (Invitation.Status.PENDING, Invitation.Status.FAILED): Reason.DELIVERY_FAILED,
    (Invitation.Status.FAILED, Invitation.Status.SENT): Reason.RETRY_ACCEPTED,
    (Invitation.Status.SENT, Invitation.Status.PENDING): Reason.RESEND,
    # An automatic reminder also goes to a delivered invitation nobody has opened.
    (Invitation.Status.DELIVERED, Invitation.Status.PENDING): Reason.REMINDER,
    # A corrected recipient gets a new send, whatever became of the last one.
    (Invitation.Status.PENDING, Invitation.Status.PENDING): Reason.RECIPIENT_CORRECTED,
    (Invitation.Status.FAILED, Invitation.Status.PENDING): Reason.RECIPIENT_CORRECTED,
    (Invitation.Status.SENT, Invitation.Status.DELIVERED): Reason.DELIVERED,
    (Invitation.Status.SENT, Invitation.Status.FAILED): Reason.DELIVERY_FAILED,
    (Invitation.Status.SENT, Invitation.Status.OPENED): Reason.OPENED,
    (Invitation.Status.DELIVERED, Invitation.Status.OPENED): Reason.OPENED,
    # The recipient started the flow (from an earlier message) while a send was still in flight
    # or being retried: they are in, whatever the delivery says.
    (Invitation.Status.PENDING, Invitation.Status.STARTED): Reason.DOSSIER_STARTED,
    (Invitation.Status.FAILED, Invitation.Status.STARTED): Reason.DOSSIER_STARTED,
    (Invitation.Status.SENT, Invitation.Status.STARTED): Reason.DOSSIER_STARTED,
    (Invitation.Status.DELIVERED, Invitation.Status.STARTED): Reason.DOSSIER_STARTED,
    (Invitation.Status.OPENED, Invitation.Status.STARTED): Reason.DOSSIER_STARTED,
    (Invitation.Status.STARTED, Invitation.Status.COMPLETED): Reason.DOSSIER_COMPLETED,
    (Invitation.Status.STARTED, Invitation.Status.REJECTED): Reason.DOSSIER_REJECTED,
    # Withdrawn by the sender (API, admin): terminal. Queued or retrying sends are canceled with it.
    **{
        (status, Invitation.Status.CANCELED): Reason.CANCELED
        for status in (
            Invitation.Status.PENDING,
            Invitation.Status.SENT,
            Invitation.Status.DELIVERED,
            Invitation.Status.OPENED,
            Invitation.Status.FAILED,
        )
    },
}

# The timestamp each status sets when it is entered.
TIMESTAMP_FIELD: dict[str, str] = {
    Invitation.Status.SENT: "sent_at",
    Invitation.Status.DELIVERED: "delivered_at",
    Invitation.Status.OPENED: "opened_at",
    Invitation.Status.STARTED: "started_at",
    Invitation.Status.COMPLETED: "completed_at",
    Invitation.Status.REJECTED: "rejected_at",
    Invitation.Status.CANCELED: "canceled_at",
}

# A report that arrives after the invitation moved past it fills its timestamp under this reason.
LATE_REASON: dict[str, Reason] = {
    Invitation.Status.DELIVERED: Reason.DELIVERED_LATE,
    Invitation.Status.OPENED: Reason.OPENED_LATE,
}

# How far along the recipient is; engagement never moves backwards.
PROGRESS: dict[str, int] = {
    Invitation.Status.PENDING: 0,
    Invitation.Status.FAILED: 0,
    Invitation.Status.SENT: 1,
    Invitation.Status.DELIVERED: 2,
    Invitation.Status.OPENED: 3,
    Invitation.Status.STARTED: 4,
    Invitation.Status.COMPLETED: 5,
    Invitation.Status.REJECTED: 5,
    Invitation.Status.CANCELED: 5,
}


def is_allowed(from_status: str, to_status: str) -> bool:
    return (from_status, to_status) in TRANSITIONS


def moves_into(to_status: str) -> frozenset[str]:
    """The statuses with a move into ``to_status``."""
    return frozenset(start for start, end in TRANSITIONS if end == to_status and start)


def listed(statuses: frozenset[str]) -> str:
    """The statuses in words, in the lifecycle's order: "pending, sent, delivered or failed"."""
    names = [status for status in Invitation.Status.values if status in statuses]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


# Where a cancel and a correction (a send to a new recipient, or again to the same one) may start.
CANCELABLE = moves_into(Invitation.Status.CANCELED)
NOT_CANCELABLE = frozenset(Invitation.Status.values) - CANCELABLE
CORRECTABLE = moves_into(Invitation.Status.PENDING)


def is_behind(status: str, than: str) -> bool:
    """Whether an invitation in ``status`` is not yet as far along as ``than``."""
    return PROGRESS[status] < PROGRESS[than]
