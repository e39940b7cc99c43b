"""When an invitation's next automatic reminder is due: the last accepted send plus `afterHours`
(the first) or `everyHours` (later ones), while one is left and allowed (API.md "Reminders").
Every move recomputes it (services.transitions), so the sweep reads it from one index."""

from datetime import datetime, timedelta

from django.conf import settings

from invitations.models import Invitation

# A reminder goes only while the message is out and nobody has opened it yet.
REMINDABLE = frozenset({Invitation.Status.SENT, Invitation.Status.DELIVERED})


def reminder_due_at(invitation: Invitation) -> datetime | None:
    """The next reminder's time, or None when no reminder is left or allowed."""
    if invitation.status not in REMINDABLE or invitation.sent_at is None:
        return None
    if invitation.reminders_sent >= invitation.reminder_max:
        return None
    if invitation.delivery_attempts >= settings.INVITATION_MAX_DELIVERY_ATTEMPTS:
        return None
    hours = invitation.reminder_after_hours if invitation.reminders_sent == 0 else invitation.reminder_every_hours
    due = invitation.sent_at + timedelta(hours=hours)
    return due if due < invitation.expires_at else None


def expiry_warning_due_at(invitation: Invitation) -> datetime | None:
    """When the warning that the link expires is due: ``expiry_warning_before_hours`` before
    expiresAt, while one is asked for and has not gone; else None."""
    if invitation.expiry_warning_before_hours is None or invitation.expiry_warning_sent_at is not None:
        return None
    return invitation.expires_at - timedelta(hours=invitation.expiry_warning_before_hours)
