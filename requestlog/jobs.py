"""Periodic upkeep of the request log and the idempotency keys (see delivery/cron.py)."""

from requestlog.store import request_log_flush, request_log_prune


def sweep_request_log() -> dict:
    """Move the stream's entries into PostgreSQL, then forget what is past its retention."""
    moved = request_log_flush()
    entries, keys = request_log_prune()
    return {"moved": moved, "entries_deleted": entries, "idempotency_keys_deleted": keys}
