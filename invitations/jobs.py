"""Periodic jobs of invitations, run by rq's cron scheduler (see delivery/cron.py)."""

from invitations.services.recipient import invitations_expired_announce


def announce_expired_invitations() -> int:
    return invitations_expired_announce()
