"""The rq worker classes the service runs (settings.RQ["WORKER_CLASS"]).

rq's own default forks a work horse per job: every delivery then pays for the fork and for a new
PostgreSQL connection, which together cost more than the delivery itself (bench/RESULTS.md). These
workers run each job in the worker process, like rq's SimpleWorker, and keep the database connection
from one job to the next, the way Django keeps it from one request to the next. The default,
``ThreadedWorker``, runs up to RQ_WORKER_THREADS jobs at once: a send mostly waits for its provider.
"""

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor

import psycopg
from django.conf import settings
from django.db import close_old_connections, connections, reset_queries
from psycopg.pq import TransactionStatus
from rq import SimpleWorker
from rq.executions import Execution
from rq.job import Job
from rq.queue import Queue
from rq.timeouts import TimerDeathPenalty
from rq.worker import WorkerStatus


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


# How often a worker whose every thread is busy still tells Redis it is alive.
BUSY_HEARTBEAT_SECONDS = 15


class ThreadDeathPenalty(TimerDeathPenalty):
    """A job's timeout on a thread: rq's TimerDeathPenalty raises in the job's thread, but only once that
    thread runs Python again. A query the job is blocked in is cancelled first (from the timer's
    thread, which psycopg allows), so the job stops now rather than when the query would have ended."""

    def setup_death_penalty(self):
        # This thread's own connection objects (Django keeps one set per thread).
        self._wrappers = [connections[alias] for alias in connections]
        super().setup_death_penalty()

    def handle_death_penalty(self):
        # The exception first: it is raised as soon as the cancelled query hands control back, before
        # the job could turn the cancellation into an error of its own.
        super().handle_death_penalty()
        for wrapper in self._wrappers:
            raw = wrapper.connection
            if raw is not None and wrapper.vendor == "postgresql":
                if raw.info.transaction_status == TransactionStatus.ACTIVE:
                    with contextlib.suppress(psycopg.Error):
                        raw.cancel_safe(timeout=5)


def worker_threads(queue_names: list[str]) -> int:
    """Jobs at once for a worker of these queues: its pool's setting (WORKER_POOLS), the largest when
    it serves several, RQ_WORKER_THREADS for a queue without a pool."""
    return max(settings.WORKER_POOLS.get(name, {}).get("threads", settings.RQ_WORKER_THREADS) for name in queue_names)


class ThreadedWorker(InProcessWorker):
    """``InProcessWorker`` with up to RQ_WORKER_THREADS jobs running at once, each on a thread of its own
    (and with a database connection of its own, as Django gives each thread).

    The worker dequeues a job only when a thread is free, so a job waits in Redis, where another
    worker can take it, rather than in this process. A job's timeout is a timer that cancels the
    query the job waits on and raises in its thread (``ThreadDeathPenalty``); a call into C that
    waits on anything else (a socket) ends by its own timeout, which every provider and webhook call
    has. A stop (SIGTERM) lets the jobs in hand finish; a worker killed outright leaves its attempts
    `sending`, and the sweeper sends them again with the same idempotency key once
    DELIVERY_SENDING_TIMEOUT_SECONDS have passed, as with one job at a time.
    """

    death_penalty_class = ThreadDeathPenalty

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.threads = worker_threads(self.queue_names())
        self._free = threading.BoundedSemaphore(self.threads)
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="rq-job")

    def execute_job(self, job: Job, queue: Queue):
        while not self._free.acquire(timeout=BUSY_HEARTBEAT_SECONDS):
            self.heartbeat()
        try:
            execution = self.prepare_execution(job)
            self._pool.submit(self._run, job, queue, execution)
        except BaseException:
            self._free.release()
            raise

    def _run(self, job: Job, queue: Queue, execution: Execution) -> None:
        try:
            self.perform_job(job, queue, execution)
        finally:
            self._free.release()

    def teardown(self):
        # The jobs in hand finish (a stop, or the end of a burst) before the worker says it is gone;
        # then every thread closes its own database connections (Django's are per thread, and only
        # their thread may close them): one task per thread, held at a barrier until each has one.
        barrier = threading.Barrier(self.threads)

        def close_connections() -> None:
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(timeout=10)
            connections.close_all()

        for _ in range(self.threads):
            self._pool.submit(close_connections)
        self._pool.shutdown(wait=True)
        self.set_state(WorkerStatus.IDLE)
        super().teardown()
