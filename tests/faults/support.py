"""What the fault runs share: a Redis of the test's own that can be killed or frozen, the service's
own processes (gunicorn, rq workers) on the test database, a whole session killed at once, the
sweeper run at a chosen time, and the short report each run prints."""

import contextlib
import io
import os
import select
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

import time_machine
from django.core.management import call_command
from django.utils import timezone

from bench import harness


class RedisProcess:
    """A redis-server on a free port with no persistence: what it holds dies with it."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.port = harness.free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def rebased(self, url: str) -> str:
        """``url`` (with its options) pointed at this server."""
        return urlsplit(url)._replace(netloc=f"127.0.0.1:{self.port}", path="/0").geturl()

    def start(self, *, timeout: float = 10) -> None:
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(
            args, cwd=self.directory, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
        )
        settled = threading.Event()
        ready = []

        def follow(stream, log_path: Path) -> None:
            # Keep reading its log, or a full pipe would block the server.
            with open(log_path, "ab") as log:
                for line in stream:
                    log.write(line)
                    log.flush()
                    if b"Ready to accept connections" in line:
                        ready.append(True)
                        settled.set()
            settled.set()

        threading.Thread(target=follow, args=(self.process.stdout, self.directory / "redis.log"), daemon=True).start()
        if not settled.wait(timeout) or not ready:
            self.kill()
            log = (self.directory / "redis.log").read_text(errors="replace")
            raise RuntimeError(f"redis-server on port {self.port} did not start:\n{log[-2000:]}")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no save; every job and counter it held is gone."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def freeze(self) -> None:
        """SIGSTOP: the port still accepts connections (the kernel's backlog), nothing answers."""
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.process.send_signal(signal.SIGCONT)


def session_members(session_id: int) -> list[int]:
    """Live processes of a session: a worker and its work horses (which rq puts in a group of their own)."""
    members = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp session ...; comm may hold spaces and parentheses.
        state, _ppid, _pgrp, session = stat.rpartition(")")[2].split()[:4]
        if int(session) == session_id and state != "Z":
            members.append(int(entry.name))
    return sorted(members)


def kill_session(session_id: int, *, timeout: float = 10) -> list[int]:
    """SIGKILL every process of the session and wait until each has exited; return their pids."""
    handles = []
    for pid in session_members(session_id):
        try:
            handle = os.pidfd_open(pid)
        except ProcessLookupError:
            continue
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(handle, signal.SIGKILL)
        handles.append((pid, handle))
    deadline = time.monotonic() + timeout
    for pid, handle in handles:
        try:
            # A pidfd becomes readable when its process exits.
            if not select.select([handle], [], [], max(0.0, deadline - time.monotonic()))[0]:
                raise TimeoutError(f"process {pid} still alive after SIGKILL")
        finally:
            os.close(handle)
    return [pid for pid, _ in handles]


class Children(harness.Children):
    """The benchmarks' child processes; at the end, anything left in their sessions is killed too."""

    def stop_all(self, timeout: float = 5) -> None:
        super().stop_all(timeout)
        for process in self.processes:
            kill_session(process.pid)


def database_url(*, host: str | None = None, port: int | None = None, **options: str) -> str:
    """The test database (the one pytest-django made) as a DATABASE_URL, reached at host:port."""
    from django.db import connection

    db = connection.settings_dict
    credentials = quote(db["USER"]) + (f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else "")
    address = f"{host or db['HOST'] or '127.0.0.1'}:{port or db['PORT'] or 5432}"
    query = f"?{urlencode(options)}" if options else ""
    return f"postgres://{credentials}@{address}/{db['NAME']}{query}"


def service_environment(**extra: str) -> dict[str, str]:
    """The environment of the service's own processes, on the test database and the test's Redis."""
    from django.conf import settings

    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "invitations_project.settings",
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


procfile_command = harness.procfile_command


def start_gunicorn(
    children: Children, *, env: dict[str, str], log: Path, workers: int = 1, wrapper: Sequence[str] = ()
) -> int:
    """The Procfile's web process with ``workers`` workers (gunicorn.conf.py for the rest); its port.
    ``wrapper``: a command it runs under (``prlimit --nofile=…``).

    The listening socket is bound here and handed over, so requests sent before gunicorn is ready
    wait in its backlog: nothing polls for readiness.
    """
    listener = socket.create_server(("127.0.0.1", 0), backlog=64)
    fd = listener.fileno()
    try:
        args = ["--bind", f"fd://{fd}", "--workers", str(workers), "--log-level", "warning"]
        children.start([*wrapper, *procfile_command("web"), *args], env=env, log=log, pass_fds=(fd,))
        return listener.getsockname()[1]
    finally:
        listener.close()


def sweep(*, at: datetime | None = None) -> str:
    """`manage.py requeue_deliveries` with the clock at ``at`` (default: now); returns its summary."""
    out = io.StringIO()
    with time_machine.travel(at or timezone.now(), tick=False):
        call_command("requeue_deliveries", stdout=out)
    return out.getvalue().strip().removesuffix(".")


def tally(expected: set[str], delivered: list[str]) -> tuple[int, int]:
    """(lost, duplicates): expected keys never delivered, and deliveries beyond one per key."""
    return len(expected - set(delivered)), len(delivered) - len(set(delivered))


def report(title: str, figures: dict[str, object], *, lost: int, duplicates: int) -> None:
    """What a fault run tried and what it found, ending with what was lost; shown with ``pytest -s``."""
    print(f"\n[fault] {title}")
    width = max(len(label) for label in figures)
    for label, value in figures.items():
        print(f"  {label:<{width}}  {value}")
    print(f"  lost={lost} duplicates={duplicates}")
