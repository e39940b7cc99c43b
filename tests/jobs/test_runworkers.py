"""`manage.py runworkers QUEUE`, as the Procfile starts it: a pool killed outright (SIGKILL, OOM)
leaves none of its workers running, nor a worker's scheduler holding the queue's scheduler lock."""

import os
import signal
import time
from pathlib import Path

import django_rq
import pytest

from tests.faults.support import Children, procfile_command, service_environment

pytestmark = pytest.mark.django_db(transaction=True)

LOCK = "rq:scheduler-lock:delivery"


def descendants(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            found |= {child, *descendants(child)}
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_a_pool_killed_outright_leaves_no_worker_and_no_scheduler_holding_the_lock(tmp_path):
    redis = django_rq.get_connection("delivery")
    children = Children()
    try:
        pool = children.start(
            [*procfile_command("delivery"), "--processes", "1"], env=service_environment(), log=tmp_path / "pool.log"
        )
        wait_for(lambda: redis.exists(LOCK), 60, "the worker's scheduler never took the lock")
        wait_for(lambda: len(descendants(pool.pid)) >= 2, 30, "no worker and scheduler under the pool")
        left = descendants(pool.pid)
        os.kill(pool.pid, signal.SIGKILL)
        wait_for(lambda: not any(alive(pid) for pid in left), 15, f"left running: {[p for p in left if alive(p)]}")
        wait_for(lambda: not redis.exists(LOCK), 15, "the scheduler lock is still held")
    finally:
        children.stop_all()
