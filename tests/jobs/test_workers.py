"""The workers run rq's own SimpleWorker: jobs in the worker process, each borrowing a pooled
database connection and giving it back (``jobs.workers.database_job``), rq's job timeout enforced."""

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
from rq import SimpleWorker, Worker
from rq.job import JobStatus

from jobs.workers import database_job

PROJECT_DIR = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.django_db(transaction=True)


# --- Jobs, imported by path by the worker ---------------------------------------------------------


@database_job
def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


@database_job
def kill_own_connection_then_query() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        terminate_backend(cursor.fetchone()[0])
        cursor.execute("SELECT 1")  # fails: the server closed this connection


@database_job
def sleep_in_python(seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.05)


@database_job
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


def run_jobs(queue, *calls) -> list:
    """Enqueue each (func, args, options) and run them all with rq's SimpleWorker in burst mode."""
    jobs = [queue.enqueue(func, *args, **options) for func, args, options in calls]
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    for job in jobs:
        job.refresh()
    return jobs


def checked_out() -> int:
    """Connections of this process's pool lent out now."""
    stats = connection.pool.get_stats()
    return stats["pool_size"] - stats["pool_available"]


@pytest.fixture
def queue(redis_conn, close_db_connections):
    return django_rq.get_queue("delivery", commit_mode="auto")


@pytest.fixture
def close_db_connections():
    yield
    connection.close()


# --- Which worker runs ------------------------------------------------------------------------------


def test_the_workers_run_rqs_own_simple_worker_by_default(settings):
    assert settings.RQ["WORKER_CLASS"] == "rq.SimpleWorker"
    assert get_worker_class() is SimpleWorker
    assert type(django_rq.get_worker("delivery")) is SimpleWorker


@pytest.mark.parametrize(
    "value, expected",
    [
        ("rq.Worker", f"{Worker.__module__}.Worker"),
        ("rq.worker.SimpleWorker", f"{SimpleWorker.__module__}.SimpleWorker"),
        ("", f"{SimpleWorker.__module__}.SimpleWorker"),
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


def test_a_job_borrows_a_pooled_connection_and_gives_it_back_when_it_ends(queue):
    jobs = run_jobs(queue, *[(backend_pid, (), {})] * 3)
    assert [job.get_status() for job in jobs] == [JobStatus.FINISHED] * 3
    assert connection.connection is None
    assert checked_out() == 0
    # The pool keeps the connections: no job opened one of its own for good.
    with admin_connection() as admin:
        alive = {row[0] for row in admin.execute("SELECT pid FROM pg_stat_activity").fetchall()}
    assert {job.return_value() for job in jobs} <= alive


def test_a_connection_dropped_between_jobs_is_replaced_before_the_next_job_uses_it(queue):
    (first,) = run_jobs(queue, (backend_pid, (), {}))
    terminate_backend(first.return_value())
    (second,) = run_jobs(queue, (backend_pid, (), {}))
    # The pool checked it before lending it (CONN_HEALTH_CHECKS): the job ran on another connection.
    assert second.get_status() == JobStatus.FINISHED
    assert second.return_value() != first.return_value()


def test_a_job_that_broke_its_connection_fails_alone_and_the_next_job_gets_a_working_one(queue):
    broken, after = run_jobs(queue, (kill_own_connection_then_query, (), {}), (backend_pid, (), {}))
    assert broken.get_status() == JobStatus.FAILED
    assert after.get_status() == JobStatus.FINISHED
    assert checked_out() == 0


# --- Job timeouts ---------------------------------------------------------------------------------


def test_a_job_running_past_its_timeout_is_stopped_and_the_worker_goes_on(queue):
    started = time.monotonic()
    slow, after = run_jobs(queue, (sleep_in_python, (30,), {"job_timeout": 1}), (backend_pid, (), {}))
    assert time.monotonic() - started < 10
    assert slow.get_status() == JobStatus.FAILED
    assert "JobTimeoutException" in slow.latest_result().exc_string
    assert after.get_status() == JobStatus.FINISHED


def test_a_job_stopped_by_its_timeout_inside_a_query_leaves_no_connection_lent_out(queue):
    started = time.monotonic()
    slow, after = run_jobs(queue, (sleep_in_postgresql, (30,), {"job_timeout": 1}), (backend_pid, (), {}))
    assert time.monotonic() - started < 10
    assert slow.get_status() == JobStatus.FAILED
    assert "JobTimeoutException" in slow.latest_result().exc_string
    assert after.get_status() == JobStatus.FINISHED
    assert checked_out() == 0
    # Its query was stopped in the server too, not left running with its locks.
    assert not query_still_running("pg_sleep")


def query_still_running(text: str, wait: float = 5) -> bool:
    deadline = time.monotonic() + wait
    with admin_connection() as admin:
        while time.monotonic() < deadline:
            rows = admin.execute(
                "SELECT 1 FROM pg_stat_activity WHERE state = 'active' AND query LIKE %s AND pid <> pg_backend_pid()",
                [f"%{text}%"],
            ).fetchall()
            if not rows:
                return False
            time.sleep(0.05)
    return True
