"""The rq worker the service runs by default: jobs in the worker process, one database connection
kept from job to job and replaced when it broke, and rq's job timeout still enforced."""

import os
import subprocess
import sys
import time
from pathlib import Path

import django_rq
import psycopg
import pytest
from django.db import connection
from django_rq.workers import get_worker_class
from rq import Queue, SimpleWorker, Worker
from rq.job import JobStatus

from jobs.workers import InProcessWorker, ThreadedWorker

PROJECT_DIR = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.django_db(transaction=True)


# --- Jobs, imported by path by the worker ---------------------------------------------------------


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def kill_own_connection_then_query() -> None:
    terminate_backend(backend_pid())
    backend_pid()  # fails: the server closed this connection


def sleep_in_python(seconds: float) -> None:
    # Python code running on (a timeout on a thread lands between two of its steps, not inside a C call).
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.05)


def sleep_in_postgresql(seconds: float) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(%s)", [seconds])


# --- Helpers ---------------------------------------------------------------------------------------


def admin_connection() -> psycopg.Connection:
    """A connection of the test's own, beside Django's."""
    settings = connection.settings_dict
    return psycopg.connect(
        host=settings["HOST"],
        port=settings["PORT"] or 5432,
        user=settings["USER"],
        password=settings["PASSWORD"] or None,
        dbname=settings["NAME"],
        autocommit=True,
    )


def terminate_backend(pid: int) -> None:
    """What a PostgreSQL restart, or a proxy dropping an idle connection, does to one connection."""
    with admin_connection() as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])


def run_jobs(queue, *calls, worker_class=None) -> list:
    """Enqueue each (func, args, options) and run them all with one worker (the ``worker_class``
    fixture's, by default) in burst mode."""
    jobs = [queue.enqueue(func, *args, **options) for func, args, options in calls]
    (worker_class or queue.worker_class_under_test)([queue], connection=queue.connection).work(burst=True)
    for job in jobs:
        job.refresh()
    return jobs


@pytest.fixture(params=[InProcessWorker, ThreadedWorker], ids=["in-process", "threaded"])
def queue(request, redis_conn, close_db_connections, settings):
    # One job at a time: the tests below are about one job after another.
    settings.WORKER_POOLS = {**settings.WORKER_POOLS, "delivery": {"processes": 1, "threads": 1}}
    queue = django_rq.get_queue("delivery", commit_mode="auto")
    queue.worker_class_under_test = request.param
    return queue


@pytest.fixture
def close_db_connections():
    yield
    connection.close()


# --- Which worker runs ------------------------------------------------------------------------------


def test_rqworker_runs_the_threaded_worker_by_default(settings):
    assert settings.RQ["WORKER_CLASS"] == "jobs.workers.ThreadedWorker"
    assert get_worker_class() is ThreadedWorker
    assert isinstance(django_rq.get_worker("delivery"), ThreadedWorker)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("rq.Worker", f"{Worker.__module__}.Worker"),
        ("rq.worker.SimpleWorker", f"{SimpleWorker.__module__}.SimpleWorker"),
        ("jobs.workers.InProcessWorker", "jobs.workers.InProcessWorker"),
        ("", "jobs.workers.ThreadedWorker"),
    ],
)
def test_rq_worker_class_in_the_environment_chooses_another(value, expected):
    code = "import django; django.setup(); from django_rq import get_worker; print(type(get_worker('delivery')))"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_DIR,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "invitations_project.settings", "RQ_WORKER_CLASS": value},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"<class '{expected}'>"


# --- The database connection across jobs ----------------------------------------------------------


def test_jobs_share_one_database_connection(queue):
    jobs = run_jobs(queue, *[(backend_pid, (), {})] * 3)
    assert [job.get_status() for job in jobs] == [JobStatus.FINISHED] * 3
    assert len({job.return_value() for job in jobs}) == 1


def test_a_connection_dropped_between_jobs_is_replaced_before_the_next_job_uses_it(queue):
    (first,) = run_jobs(queue, (backend_pid, (), {}))
    terminate_backend(first.return_value())
    (second,) = run_jobs(queue, (backend_pid, (), {}))
    # The health check (CONN_HEALTH_CHECKS) found it dead: the job ran on a new connection.
    assert second.get_status() == JobStatus.FINISHED
    assert second.return_value() != first.return_value()


def test_a_job_that_broke_its_connection_fails_alone_and_the_next_job_gets_a_new_one(queue):
    first, broken, after = run_jobs(
        queue, (backend_pid, (), {}), (kill_own_connection_then_query, (), {}), (backend_pid, (), {})
    )
    assert broken.get_status() == JobStatus.FAILED
    assert after.get_status() == JobStatus.FINISHED
    assert after.return_value() != first.return_value()


# --- Job timeouts ---------------------------------------------------------------------------------


def test_a_job_running_past_its_timeout_is_stopped_and_the_worker_goes_on(queue):
    started = time.monotonic()
    slow, after = run_jobs(queue, (sleep_in_python, (30,), {"job_timeout": 1}), (backend_pid, (), {}))
    assert time.monotonic() - started < 10
    assert slow.get_status() == JobStatus.FAILED
    assert "JobTimeoutException" in slow.latest_result().exc_string
    assert after.get_status() == JobStatus.FINISHED


def test_a_job_stopped_by_its_timeout_inside_a_query_stops_the_query_and_leaves_no_broken_connection(queue):
    started = time.monotonic()
    first, slow, after = run_jobs(
        queue,
        (backend_pid, (), {}),
        (sleep_in_postgresql, (30,), {"job_timeout": 1}),
        (backend_pid, (), {}),
    )
    assert time.monotonic() - started < 10
    assert slow.get_status() == JobStatus.FAILED
    assert "JobTimeoutException" in slow.latest_result().exc_string
    # Its query was cancelled in the server and the next job ran. The in-process worker's SIGALRM cuts
    # the connection mid-answer, so it is replaced; the threaded worker's cancel leaves it whole.
    assert after.get_status() == JobStatus.FINISHED
    if queue.worker_class_under_test is InProcessWorker:
        assert after.return_value() != first.return_value()
    assert not server_still_running(first.return_value(), "pg_sleep")


def server_still_running(pid: int, text: str, wait: float = 5) -> bool:
    deadline = time.monotonic() + wait
    with admin_connection() as admin:
        while time.monotonic() < deadline:
            row = admin.execute("SELECT state, query FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone()
            if row is None or row[0] != "active" or text not in row[1]:
                return False
            time.sleep(0.05)
    return True


# --- Many jobs at once ----------------------------------------------------------------------------


def sleep_then_report_connection(seconds: float) -> int:
    time.sleep(seconds)
    return backend_pid()


@pytest.mark.django_db(transaction=True)
def test_the_threaded_worker_runs_up_to_its_threads_jobs_at_once_each_on_its_own_connection(
    redis_conn, settings, close_db_connections
):
    settings.WORKER_POOLS = {**settings.WORKER_POOLS, "delivery": {"processes": 1, "threads": 4}}
    queue = django_rq.get_queue("delivery", commit_mode="auto")
    started = time.monotonic()
    jobs = run_jobs(queue, *[(sleep_then_report_connection, (0.5,), {})] * 8, worker_class=ThreadedWorker)
    elapsed = time.monotonic() - started
    assert [job.get_status() for job in jobs] == [JobStatus.FINISHED] * 8
    # Eight half-second jobs four at a time: two rounds, not eight.
    assert 1.0 <= elapsed < 3.0, elapsed
    assert len({job.return_value() for job in jobs}) == 4  # one connection per thread, kept from job to job


def test_a_worker_runs_as_many_jobs_at_once_as_its_queues_pool_says(settings, redis_conn):
    settings.WORKER_POOLS = {
        "delivery": {"processes": 2, "threads": 12},
        "webhooks": {"processes": 1, "threads": 1},
        "default": {"processes": 1, "threads": 3},
    }
    settings.RQ_WORKER_THREADS = 7

    def threads(*names: str) -> int:
        return ThreadedWorker([Queue(name, connection=redis_conn) for name in names], connection=redis_conn).threads

    assert (threads("delivery"), threads("webhooks"), threads("default")) == (12, 1, 3)
    assert threads("webhooks", "default") == 3  # the largest of the queues it serves
    assert threads("elsewhere") == 7  # a queue without a pool of its own
