"""Periodic jobs of invitations, run by rq's cron scheduler (see jobs/cron.py)."""

from invitations.services.recipient import invitations_expired_announce
from invitations.services.reminders import invitations_remind, invitations_warn_expiring
from invitations.services.schedule import invitations_send_scheduled


def announce_expired_invitations() -> int:
    return invitations_expired_announce()


def send_due_reminders() -> dict:
    result = invitations_remind()
    warnings = invitations_warn_expiring()
    return {"sent": result.sent, "refused": result.refused, "expiry_warnings": warnings.sent}


def send_scheduled() -> int:
    return invitations_send_scheduled()
