"""rq jobs: thin and idempotent. The payload is an id (or a batch's ids); the row says what is left to do."""

from delivery.services import delivery_attempt_send, delivery_attempts_requeue_stale, delivery_attempts_send
from jobs.workers import database_job
from ops.context import log_context


@database_job
def deliver_attempt(attempt_id: int) -> str:
    with log_context(attempt_id=attempt_id):
        attempt = delivery_attempt_send(attempt_id=attempt_id)
    return attempt.status if attempt is not None else "skipped"


@database_job
def deliver_attempts(attempt_ids: list[int]) -> dict:
    """A batch of sends (``delivery_attempts_send``); those another job has, or that are done, are skipped."""
    with log_context(attempt_id=attempt_ids[0] if attempt_ids else None):
        attempts = delivery_attempts_send(attempt_ids=attempt_ids)
    return {"claimed": len(attempts), "skipped": len(attempt_ids) - len(attempts)}


@database_job
def play_story(attempt_id: int) -> int:
    """A sandbox simulation's events after acceptance (delivery/simulator.py)."""
    from delivery.simulator import story_play

    with log_context(attempt_id=attempt_id):
        return story_play(attempt_id=attempt_id)


def sweep_deliveries() -> dict:
    """The periodic outbox sweep (see delivery/cron.py)."""
    result = delivery_attempts_requeue_stale()
    return {"found": result.found, "enqueued": result.enqueued}


def refresh_delivery_stats() -> dict:
    """The periodic refresh of the delivery health rollups (delivery/services/rollups.py)."""
    from delivery.services.rollups import delivery_stats_refresh

    result = delivery_stats_refresh()
    return {"hours": result.hours, "attempts": result.attempts}
