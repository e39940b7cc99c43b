"""Fixtures for the fault runs: the test's own Redis, and the service's own processes."""

import logging
import sys

import pytest

from tests.faults.support import Children, RedisProcess


@pytest.fixture
def private_redis(tmp_path):
    """A redis-server of this test's own, that the test may kill, freeze and start again."""
    server = RedisProcess(tmp_path)
    server.start()
    yield server
    server.kill()


@pytest.fixture
def children():
    """Processes the test starts (gunicorn, rq workers); stopped, and their sessions killed, at the end."""
    started = Children()
    yield started
    started.stop_all()


@pytest.fixture(autouse=True)
def _quiet_console():
    """Keep the console to the reports: the faults make the service log hundreds of expected
    warnings. Records still reach pytest's own handlers (caplog, and the log of a failed test)."""
    console = [
        handler
        for handler in logging.getLogger().handlers
        if type(handler) is logging.StreamHandler and handler.stream in (sys.stderr, sys.__stderr__)
    ]
    levels = [handler.level for handler in console]
    for handler in console:
        handler.setLevel(logging.CRITICAL)
    yield
    for handler, level in zip(console, levels, strict=True):
        handler.setLevel(level)
