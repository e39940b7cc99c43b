"""Run the worker pool of one queue: `python manage.py runworkers delivery` (or webhooks, default).

Each queue has its own pool, so delivery never waits behind webhooks or the periodic jobs. The pool
is rq's WorkerPool: WORKER_POOLS[queue]["processes"] worker processes (DELIVERY_WORKER_PROCESSES,
...), each running one job at a time with the scheduler for its queue; a worker that dies is started
again. SIGTERM stops them gracefully.
"""

import ctypes
import os
import signal

import django_rq
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django_rq.utils import reset_db_connections
from django_rq.workers import get_worker_class
from rq.worker_pool import WorkerPool


def _default_signal_handlers() -> None:
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


# Linux's prctl option: a signal this process gets when the thread that forked it ends.
PR_SET_PDEATHSIG = 1
_forked_by = {"pid": 0}


def _remember_parent() -> None:
    _forked_by["pid"] = os.getpid()


def _die_with_parent() -> None:
    """A worker SIGTERMed (so it stops as it would on any stop) when its pool dies, however it died,
    and likewise a worker's scheduler when its worker dies: none is left running, holding the queue's
    scheduler lock, behind a pool that is gone."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        return  # not Linux: nothing to ask for
    if os.getppid() != _forked_by["pid"]:
        os.kill(os.getpid(), signal.SIGTERM)  # the parent died before the request took effect


class StartedPool(WorkerPool):
    """rq's WorkerPool, which forks its workers before it installs its own SIGINT and SIGTERM
    handlers: a stop asked for in between is held until the workers exist, then passed to them, so
    the pool never dies leaving its workers (and their schedulers) behind."""

    def start(self, burst: bool = False, logging_level: str = "INFO"):
        self.stop_asked = False

        def hold(signum, frame) -> None:
            self.stop_asked = True

        signal.signal(signal.SIGINT, hold)
        signal.signal(signal.SIGTERM, hold)
        # A worker starts with Python's own handlers, as it would have without the hold, until rq's.
        os.register_at_fork(after_in_child=_default_signal_handlers)
        os.register_at_fork(before=_remember_parent, after_in_child=_die_with_parent)
        super().start(burst=burst, logging_level=logging_level)

    def start_workers(self, burst: bool = True, _sleep: float = 0, logging_level: str = "INFO"):
        super().start_workers(burst=burst, _sleep=_sleep, logging_level=logging_level)
        if self.stop_asked:
            self.request_stop()

    def check_workers(self, respawn: bool = True) -> None:
        # A stop held after the workers started but before rq's own handlers took over: the workers
        # got it too (a Ctrl-C reaches the whole group) and are stopping; none is started again.
        if self.stop_asked and self.status != self.Status.STOPPED:
            self.request_stop()
            return
        super().check_workers(respawn=respawn)


class Command(BaseCommand):
    help = "Run the worker processes of one queue, as many as its settings say."

    def add_arguments(self, parser):
        parser.add_argument("queue", help=f"one of: {', '.join(sorted(settings.WORKER_POOLS))}")
        parser.add_argument("--processes", type=int, help="override the queue's number of processes")
        parser.add_argument("--burst", action="store_true", help="stop once the queue is empty")

    def handle(self, *args, queue: str, processes: int | None, burst: bool, verbosity: int, **options):
        if queue not in settings.WORKER_POOLS:
            raise CommandError(f"No worker pool for the queue {queue!r}: {', '.join(sorted(settings.WORKER_POOLS))}.")
        if processes is not None and processes < 1:
            raise CommandError("--processes must be 1 or more.")
        count = processes or settings.WORKER_POOLS[queue]["processes"]
        rq_queues = [django_rq.get_queue(name) for name in settings.WORKER_POOLS[queue]["queues"]]
        pool = StartedPool(
            queues=rq_queues,
            connection=rq_queues[0].connection,
            num_workers=count,
            worker_class=get_worker_class(),
        )
        self.stderr.write(f"{queue}: {count} worker process(es)")
        # Forked workers must not share the parent's database connections.
        reset_db_connections()
        pool.start(burst=burst, logging_level="DEBUG" if verbosity >= 2 else "WARNING" if verbosity == 0 else "INFO")
