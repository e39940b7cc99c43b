"""The one way work leaves a transaction: enqueue after commit.

PostgreSQL is the source of truth and Redis only carries work. A job is enqueued only once the
transaction that made its row commits; if Redis is unreachable then, the row stays as it is and
the sweeper enqueues it later. Nothing is enqueued for a rolled-back transaction.

Jobs are named by dotted path ("delivery.jobs.deliver_attempt"), so the services that enqueue them
never import the jobs module, which imports them.
"""

import logging
from collections.abc import Callable, Sequence
from datetime import timedelta
from functools import cache, partial

import django_rq
from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string
from django_rq.queues import get_result_ttl
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue

from ops.context import job_meta

logger = logging.getLogger(__name__)

Job = Callable | str


def _callable(func: Job) -> Callable:
    return import_string(func) if isinstance(func, str) else func


def _name(func: Job) -> str:
    return func.rsplit(".", 1)[-1] if isinstance(func, str) else func.__name__


@cache
def _redis_for(queue_name: str, url: str) -> Redis:
    # One client, so one connection pool, per process and queue: opening a new Redis connection for
    # every enqueue cost more than the enqueue itself (bench/resend_load.py). The pool reconnects by
    # itself after Redis comes back, and redis-py starts a fresh pool in a forked child.
    return django_rq.get_connection(queue_name)


def redis_for(queue_name: str) -> Redis:
    """The Redis connection behind a queue, shared by the process."""
    return _redis_for(queue_name, settings.RQ_QUEUES.get(queue_name, {}).get("URL", ""))


def _queue(queue_name: str) -> Queue:
    url = settings.RQ_QUEUES.get(queue_name, {}).get("URL", "")
    return django_rq.get_queue(queue_name, commit_mode="auto", connection=_redis_for(queue_name, url))


def enqueue_now(func: Job, *args, queue_name: str = "delivery", **job_options) -> bool:
    """Enqueue ``func(*args)``; return False (and log) when Redis cannot take it."""
    if settings.DELIVERY_INLINE:
        try:
            _callable(func)(*args)
        except Exception:
            # Inline mode has no worker to retry; the sweeper sees the row and tries again.
            logger.exception("Inline job %s%r failed", _name(func), args)
        return True
    try:
        queue = _queue(queue_name)
        # In one pipeline: rq alone makes two round trips (the queue's registration, then the job).
        with queue.connection.pipeline() as pipe:
            queue.enqueue(func, *args, pipeline=pipe, **job_meta(job_options))
            pipe.execute()
    except RedisError as exc:
        logger.warning("Could not enqueue %s%r on %s: %s; the sweeper will retry", _name(func), args, queue_name, exc)
        return False
    return True


def enqueue_on_commit(func: Job, *args, queue_name: str = "delivery", **job_options) -> None:
    # The request id is taken now: the callback may run once the request is answered.
    transaction.on_commit(partial(enqueue_now, func, *args, queue_name=queue_name, **job_meta(job_options)))


def enqueue_many_now(
    func: Job,
    args_list: Sequence[tuple],
    *,
    queue_name: str = "delivery",
    per_job_options: Sequence[dict] | None = None,
    **job_options,
) -> bool:
    """Enqueue ``func(*args)`` for each args in one Redis round trip (an rq pipeline).

    ``per_job_options``, when given, adds options to each job (one dict per args, same order).
    All or nothing: return False (and log) when Redis cannot take them; the rows behind the jobs
    stay as they are and the sweeper enqueues them later, as with ``enqueue_now``.
    """
    if not args_list:
        return True
    options_list = [job_meta({**job_options, **extra}) for extra in (per_job_options or [{}] * len(args_list))]
    if settings.DELIVERY_INLINE:
        for args in args_list:
            enqueue_now(func, *args, queue_name=queue_name)
        return True
    try:
        queue = _queue(queue_name)
        result_ttl = get_result_ttl(queue_name)
        job_datas = [
            Queue.prepare_data(func, args=tuple(args), **{"result_ttl": result_ttl, **options})
            for args, options in zip(args_list, options_list, strict=True)
        ]
        with queue.connection.pipeline() as pipe:
            queue.enqueue_many(job_datas, pipeline=pipe)
            pipe.execute()
    except RedisError as exc:
        logger.warning(
            "Could not enqueue %d %s jobs on %s: %s; the sweeper will retry",
            len(args_list),
            _name(func),
            queue_name,
            exc,
        )
        return False
    return True


def enqueue_many_on_commit(
    func: Job,
    args_list: Sequence[tuple],
    *,
    queue_name: str = "delivery",
    on_result: Callable[[bool, int], None] | None = None,
    **job_options,
) -> None:
    """``enqueue_many_now`` once the current transaction commits.

    ``on_result(taken, job_count)`` hears whether Redis took the jobs.
    """
    if not args_list:
        return

    job_options = job_meta(job_options)

    def enqueue() -> None:
        taken = enqueue_many_now(func, args_list, queue_name=queue_name, **job_options)
        if on_result is not None:
            on_result(taken, len(args_list))

    transaction.on_commit(enqueue)


def enqueue_in(delay_seconds: int, func: Job, *args, queue_name: str, **job_options) -> bool:
    """Enqueue ``func(*args)`` ``delay_seconds`` from now on rq's scheduler; False when Redis refused."""
    try:
        _queue(queue_name).enqueue_in(timedelta(seconds=delay_seconds), func, *args, **job_meta(job_options))
    except RedisError as exc:
        logger.warning("Could not schedule %s%r on %s: %s", _name(func), args, queue_name, exc)
        return False
    return True


def enqueue_later_on_commit(delay_seconds: int, func: Job, *args, queue_name: str = "delivery", **job_options) -> None:
    """Enqueue ``func(*args)`` ``delay_seconds`` after the transaction commits (rq's scheduler).

    Redis being down is logged and left to the sweeper, as with ``enqueue_now``.
    """
    job_options = job_meta(job_options)

    def enqueue() -> None:
        if settings.DELIVERY_INLINE:
            enqueue_now(func, *args, queue_name=queue_name)
            return
        try:
            queue = _queue(queue_name)
            queue.enqueue_in(timedelta(seconds=delay_seconds), func, *args, **job_meta(job_options))
        except RedisError as exc:
            logger.warning(
                "Could not schedule %s%r on %s: %s; the sweeper will retry", _name(func), args, queue_name, exc
            )

    transaction.on_commit(enqueue)
