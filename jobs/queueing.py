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
from functools import cache
from typing import Any

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
    # One client, so one connection pool, per process and queue, rather than a new Redis connection
    # for every enqueue. The pool reconnects by itself after Redis comes back, and redis-py starts a
    # fresh pool in a forked child.
    return django_rq.get_connection(queue_name)


def redis_for(queue_name: str) -> Redis:
    """The Redis connection behind a queue, shared by the process."""
    return _redis_for(queue_name, settings.RQ_QUEUES.get(queue_name, {}).get("URL", ""))


def queue_for(queue_name: str) -> Queue:
    """The rq queue of this name, on its queue's Redis connection."""
    url = settings.RQ_QUEUES.get(queue_name, {}).get("URL", "")
    return django_rq.get_queue(queue_name, commit_mode="auto", connection=_redis_for(queue_name, url))


def enqueue_now(
    func: Job,
    *args,
    queue_name: str = "delivery",
    batch: Sequence[tuple] | None = None,
    per_job_options: Sequence[dict] | None = None,
    delay: float = 0,
    **job_options,
) -> bool:
    """Enqueue ``func(*args)``, or ``func(*call)`` for each call in ``batch``, in one Redis round trip;
    with ``delay``, on rq's scheduler that many seconds from now.

    ``per_job_options`` adds options to each job of a batch (one dict per call, same order). All or
    nothing: False (and logged) when Redis cannot take them; the rows behind the jobs stay as they
    are and the sweeper enqueues them later. With DELIVERY_INLINE the calls run here and now.
    """
    calls = [tuple(call) for call in batch] if batch is not None else [args]
    if not calls:
        return True
    if settings.DELIVERY_INLINE:
        for call in calls:
            try:
                _callable(func)(*call)
            except Exception:
                # Inline mode has no worker to retry; the sweeper sees the row and tries again.
                logger.exception("Inline job %s%r failed", _name(func), call)
        return True
    options_list = [job_meta({**job_options, **extra}) for extra in (per_job_options or [{}] * len(calls))]
    # rq takes a dotted path or a function, each through its own overload.
    target: Any = func
    try:
        queue = queue_for(queue_name)
        if delay:
            for call, options in zip(calls, options_list, strict=True):
                queue.enqueue_in(timedelta(seconds=delay), target, *call, **options)
            return True
        result_ttl = get_result_ttl(queue_name)
        job_datas = [
            Queue.prepare_data(target, args=call, **{"result_ttl": result_ttl, **options})
            for call, options in zip(calls, options_list, strict=True)
        ]
        # In one pipeline: rq alone makes two round trips per job (the queue's registration, then the job).
        with queue.connection.pipeline() as pipe:
            queue.enqueue_many(job_datas, pipeline=pipe)
            pipe.execute()
    except RedisError as exc:
        what = f"{_name(func)}{calls[0]!r}" if len(calls) == 1 else f"{len(calls)} {_name(func)} jobs"
        logger.warning("Could not enqueue %s on %s: %s; the sweeper will retry", what, queue_name, exc)
        return False
    return True


def enqueue_on_commit(func: Job, *args, on_result: Callable[[bool, int], None] | None = None, **options) -> None:
    """``enqueue_now`` once the current transaction commits (never, if it rolls back).

    ``on_result(taken, job_count)`` hears then whether Redis took the jobs.
    """
    batch = options.get("batch")
    if batch is not None and not batch:
        return
    # The request id is taken now: the callback may run once the request is answered.
    options = job_meta(options)

    def enqueue() -> None:
        taken = enqueue_now(func, *args, **options)
        if on_result is not None:
            on_result(taken, 1 if batch is None else len(batch))

    transaction.on_commit(enqueue)
