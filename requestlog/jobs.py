"""Periodic upkeep of the request log and the idempotency keys (see delivery/cron.py)."""

from requestlog.store import request_log_flush, request_log_prune


def sweep_request_log() -> dict:
    """Move the stream's entries into PostgreSQL, then forget what is past its retention: the
    pruning runs even when the move fails (Redis down, say), and the failure is raised after it."""
    try:
        moved = request_log_flush()
    finally:
        entries, keys = request_log_prune()
    return {"moved": moved, "entries_deleted": entries, "idempotency_keys_deleted": keys}
