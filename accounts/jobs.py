"""Periodic upkeep of accounts' tables, run by rq's cron scheduler (see delivery/cron.py)."""

from accounts.services import refresh_tokens_delete_expired


def delete_expired_refresh_tokens() -> int:
    return refresh_tokens_delete_expired()
