"""rq jobs: thin and idempotent. The payload is an id; the row says what is left to do."""

from delivery.services import delivery_attempt_send


def deliver_attempt(attempt_id: int) -> str:
    attempt = delivery_attempt_send(attempt_id=attempt_id)
    return attempt.status if attempt is not None else "skipped"
