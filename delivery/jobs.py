"""rq jobs: thin and idempotent. The payload is an id; the row says what is left to do."""

from delivery.services import delivery_attempt_send, delivery_attempts_requeue_stale
from ops.context import log_context


def deliver_attempt(attempt_id: int) -> str:
    with log_context(attempt_id=attempt_id):
        attempt = delivery_attempt_send(attempt_id=attempt_id)
    return attempt.status if attempt is not None else "skipped"


def sweep_deliveries() -> dict:
    """The periodic outbox sweep (see delivery/cron.py)."""
    result = delivery_attempts_requeue_stale()
    return {"found": result.found, "enqueued": result.enqueued}
