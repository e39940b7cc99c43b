"""Periodic jobs of invitations, run by rq's cron scheduler (see jobs/cron.py)."""

from invitations.services.recipient import invitations_expired_announce
from invitations.services.reminders import invitations_remind


def announce_expired_invitations() -> int:
    return invitations_expired_announce()


def send_due_reminders() -> dict:
    result = invitations_remind()
    return {"sent": result.sent, "refused": result.refused}
