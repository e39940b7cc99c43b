"""The one way work leaves a transaction: enqueue after commit.

PostgreSQL is the source of truth and Redis only carries work. A job is enqueued only once the
transaction that made its row commits; if Redis is unreachable then, the row stays as it is and
the sweeper enqueues it later. Nothing is enqueued for a rolled-back transaction.
"""

import logging
from collections.abc import Callable
from functools import cache, partial

import django_rq
from django.conf import settings
from django.db import transaction
from redis import Redis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)


@cache
def _redis_for(queue_name: str) -> Redis:
    # One client, so one connection pool, per process and queue: opening a new Redis connection for
    # every enqueue cost more than the enqueue itself (bench/resend_load.py). The pool reconnects by
    # itself after Redis comes back, and redis-py starts a fresh pool in a forked child.
    return django_rq.get_connection(queue_name)


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
        queue = django_rq.get_queue(queue_name, commit_mode="auto", connection=_redis_for(queue_name))
        queue.enqueue(func, *args, **job_options)
    except RedisError as exc:
        logger.warning("Could not enqueue %s%r on %s: %s; the sweeper will retry", func.__name__, args, queue_name, exc)
        return False
    return True


def enqueue_on_commit(func: Callable, *args, queue_name: str = "delivery", **job_options) -> None:
    transaction.on_commit(partial(enqueue_now, func, *args, queue_name=queue_name, **job_options))
