"""The rq worker class the service runs by default (settings.RQ["WORKER_CLASS"]).

rq's own default forks a work horse per job: every delivery then pays for the fork and for a new
PostgreSQL connection, which together cost more than the delivery itself (bench/RESULTS.md). This
worker runs each job in its own process, like rq's SimpleWorker, and keeps the database connection
from one job to the next, the way Django keeps it from one request to the next.
"""

import contextlib

import psycopg
from django.db import close_old_connections, connections, reset_queries
from psycopg.pq import TransactionStatus
from rq import SimpleWorker
from rq.executions import Execution
from rq.job import Job
from rq.queue import Queue


class InProcessWorker(SimpleWorker):
    """Runs jobs in the worker process (no fork per job), with Django's per-request connection care.

    Around each job, as around each request: connections past CONN_MAX_AGE, or left in a bad state,
    are closed, so the next query opens a fresh one; healthy ones are kept. A job that failed may
    have left its connection unusable without Django noticing (rq's timeout interrupts a query
    mid-flight), so after a failure every connection is checked before the next job uses it.

    The job timeout still holds: rq's death penalty is SIGALRM, delivered to the main thread, where
    this worker runs its jobs. What is lost against the forking worker is isolation: a job that
    crashes the interpreter takes the worker with it (run workers under a supervisor), and state a
    job leaves in the process stays for the next one. `RQ_WORKER_CLASS=rq.Worker` restores forking.
    """

    def perform_job(self, job: Job, queue: Queue, execution: Execution) -> bool:
        reset_queries()
        close_old_connections()
        succeeded = False
        try:
            succeeded = super().perform_job(job, queue, execution)
        finally:
            if not succeeded:
                _check_connections_on_next_cleanup()
            close_old_connections()
        return succeeded


def _check_connections_on_next_cleanup() -> None:
    for connection in connections.all(initialized_only=True):
        raw = connection.connection
        if raw is None:
            continue
        if connection.vendor == "postgresql" and raw.info.transaction_status == TransactionStatus.ACTIVE:
            # The timeout interrupted a query: stop it in the server too, or it would run on, with
            # its locks, after this connection is closed.
            with contextlib.suppress(psycopg.Error):
                raw.cancel_safe(timeout=5)
        # Django checks (SELECT 1) a connection flagged with errors, and closes it if that fails.
        connection.errors_occurred = True
