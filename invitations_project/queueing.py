"""The one way work leaves a transaction: enqueue after commit.

PostgreSQL is the source of truth and Redis only carries work. A job is enqueued only once the
transaction that made its row commits; if Redis is unreachable then, the row stays as it is and
the sweeper enqueues it later. Nothing is enqueued for a rolled-back transaction.
"""

import logging
from collections.abc import Callable
from datetime import timedelta
from functools import partial

import django_rq
from django.conf import settings
from django.db import transaction
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)


def enqueue_now(func: Callable, *args, queue_name: str = "delivery", **job_options) -> bool:
    """Enqueue ``func(*args)``; return False (and log) when Redis cannot take it."""
    if settings.DELIVERY_INLINE:
        try:
            func(*args)
        except Exception:
            # Inline mode has no worker to retry; the sweeper sees the row and tries again.
            logger.exception("Inline job %s%r failed", func.__name__, args)
        return True
    try:
        queue = django_rq.get_queue(queue_name, commit_mode="auto")
        queue.enqueue(func, *args, **job_options)
    except RedisError as exc:
        logger.warning("Could not enqueue %s%r on %s: %s; the sweeper will retry", func.__name__, args, queue_name, exc)
        return False
    return True


def enqueue_on_commit(func: Callable, *args, queue_name: str = "delivery", **job_options) -> None:
    transaction.on_commit(partial(enqueue_now, func, *args, queue_name=queue_name, **job_options))


def enqueue_later_on_commit(
    delay_seconds: int, func: Callable, *args, queue_name: str = "delivery", **job_options
) -> None:
    """Enqueue ``func(*args)`` ``delay_seconds`` after the transaction commits (rq's scheduler).

    Redis being down is logged and left to the sweeper, as with ``enqueue_now``.
    """

    def enqueue() -> None:
        if settings.DELIVERY_INLINE:
            enqueue_now(func, *args, queue_name=queue_name)
            return
        try:
            queue = django_rq.get_queue(queue_name, commit_mode="auto")
            queue.enqueue_in(timedelta(seconds=delay_seconds), func, *args, **job_options)
        except RedisError as exc:
            logger.warning(
                "Could not schedule %s%r on %s: %s; the sweeper will retry", func.__name__, args, queue_name, exc
            )

    transaction.on_commit(enqueue)


def enqueue_batch_now(func: Callable, calls: list[tuple[tuple, dict]], *, queue_name: str = "delivery") -> bool:
    """Enqueue ``func(*args)`` for each ``(args, job_options)`` in one Redis round trip.

    All or nothing: False (and a log line) when Redis cannot take them.
    """
    if settings.DELIVERY_INLINE:
        for args, _ in calls:
            enqueue_now(func, *args, queue_name=queue_name)
        return True
    try:
        queue = django_rq.get_queue(queue_name, commit_mode="auto")
        queue.enqueue_many([queue.prepare_data(func, args=args, **options) for args, options in calls])
    except RedisError as exc:
        logger.warning("Could not enqueue %d %s jobs on %s: %s", len(calls), func.__name__, queue_name, exc)
        return False
    return True
