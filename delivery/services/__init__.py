"""Delivery attempts: the outbox and what happens to each send.

    queueing  the outbox row in the caller's transaction, its job enqueued after commit
    sending   claim an attempt once (or a batch), send it (or simulate a sandbox send), report the outcome
    sweeper   enqueue again what Redis lost, retries overdue, sends whose worker vanished
    events    provider events recorded once, matched to their send, reported as outcome kinds

What each provider's events and errors mean is in delivery/providers/.
"""

from delivery.services.events import delivery_provider_event_record
from delivery.services.queueing import (
    delivery_attempts_queue,
    retry_policy,
)
from delivery.services.sending import (
    delivery_attempt_claim,
    delivery_attempt_send,
    delivery_attempts_claim,
    delivery_attempts_send,
)
from delivery.services.sweeper import SweepResult, delivery_attempts_requeue_stale

__all__ = [
    "SweepResult",
    "delivery_attempt_claim",
    "delivery_attempts_queue",
    "delivery_attempt_send",
    "delivery_attempts_claim",
    "delivery_attempts_send",
    "delivery_attempts_requeue_stale",
    "delivery_provider_event_record",
    "retry_policy",
]
