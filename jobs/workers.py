"""What a job needs around it: Django's database connections cared for as around a request.

The workers are rq's own SimpleWorker (settings.RQ["WORKER_CLASS"]): each job runs in the worker
process, one at a time, with rq's timeout; a job that waits on many providers (a delivery batch, a
webhook dispatcher) overlaps those calls itself. Under ``database_job`` a job borrows a connection
from the process's pool when it first queries and gives it back when it ends; one it left broken
is dropped, not handed to the next job.
"""

import contextlib
import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import psycopg
from django.db import connections
from psycopg.pq import TransactionStatus

P = ParamSpec("P")
R = TypeVar("R")


def _release_connections() -> None:
    # As Django does at a request's start and end (close_old_connections), except inside a caller's
    # transaction: a job run inline, right after a commit, in a request or a test, keeps its caller's.
    for connection in connections.all(initialized_only=True):
        if connection.in_atomic_block:
            continue
        raw = connection.connection
        if connection.vendor == "postgresql" and raw is not None:
            if raw.info.transaction_status == TransactionStatus.ACTIVE:
                # rq's timeout interrupted a query: stop it in the server too, or it would run on,
                # with its locks, after this connection is given up.
                with contextlib.suppress(psycopg.Error):
                    raw.cancel_safe(timeout=5)
                connection.errors_occurred = True
        connection.close_if_unusable_or_obsolete()


def database_job(func: Callable[P, R]) -> Callable[P, R]:
    """A job function whose database connections are released before and after it runs."""

    @functools.wraps(func)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        _release_connections()
        try:
            return func(*args, **kwargs)
        finally:
            _release_connections()

    return run
