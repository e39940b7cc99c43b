"""What the benchmarks share: their own database and Redis DB, child processes, figures, cleanup.

Each benchmark runs against a database it creates (default ``bench_inv`` on the local PostgreSQL)
and a spare Redis DB (default 9), starts the service's own processes (gunicorn, rq workers) as
children on 127.0.0.1, and removes all of it when it ends, whether it succeeded or not.
"""

import contextlib
import os
import platform
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

PROJECT_DIR = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/bench_inv"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/9"


def bench_environment(database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    """The environment for this process and every child: the service's settings, pointed at the bench."""
    host = urlsplit(database_url).hostname
    redis_host = urlsplit(redis_url).hostname
    for name, value in (("database", host), ("redis", redis_host)):
        if value not in ("127.0.0.1", "localhost", "::1"):
            raise SystemExit(f"The benchmarks only run against this machine; the {name} host is {value!r}.")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "invitations_project.settings",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": "bench-only-secret-key-Kq7vR2mX9pL4wZ8nB3cT6yH1",
        "DEBUG": "0",
        # Plain HTTP on loopback, as scripts/test runs it.
        "SECURE_SSL_REDIRECT": "0",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }
    os.environ.update(env)
    return env


def _maintenance_url(database_url: str) -> tuple[str, str]:
    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    if not name.startswith("bench"):
        raise SystemExit(f"Refusing to drop and recreate {name!r}: a benchmark database's name starts with 'bench'.")
    return urlunsplit(parts._replace(path="/postgres")), name


def recreate_database(database_url: str) -> None:
    import psycopg

    url, name = _maintenance_url(database_url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(database_url: str) -> None:
    import psycopg

    url, name = _maintenance_url(database_url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def tear_down(database_url: str) -> None:
    """After a run, whatever it left: empty the bench's Redis DB (every queue of the run is in it),
    close this process's database connections and drop the bench database."""
    try:
        import django_rq

        django_rq.get_connection("delivery").flushdb()
    except Exception as exc:
        print(f"could not flush the bench Redis DB: {exc}", file=sys.stderr)
    from django.db import connections

    connections.close_all()
    drop_database(database_url)


def manage(*args: str, env: dict[str, str]) -> None:
    subprocess.run([PYTHON, "manage.py", *args], cwd=PROJECT_DIR, env=env, check=True)


def setup_django() -> None:
    sys.path.insert(0, str(PROJECT_DIR))
    import django

    django.setup()


def procfile_command(name: str) -> list[str]:
    """The Procfile's command for process ``name``, run with this checkout's virtualenv."""
    lines = (Path(PROJECT_DIR) / "Procfile").read_text().splitlines()
    commands = {key.strip(): value.strip() for key, _, value in (line.partition(":") for line in lines if line)}
    program, *args = shlex.split(commands[name])
    prefix = {"python": [PYTHON], "gunicorn": [PYTHON, "-m", "gunicorn"]}[program]
    return [*prefix, *args]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Children:
    """Child processes, each in its own process group, ended (by pid) when the benchmark ends."""

    def __init__(self) -> None:
        self.processes: list[subprocess.Popen] = []

    def start(self, args: list[str], *, env: dict[str, str], log: Path, **popen_options) -> subprocess.Popen:
        """Start ``args`` in its own session; ``popen_options`` go to Popen (``pass_fds``, say)."""
        with open(log, "ab") as out:
            process = subprocess.Popen(
                args,
                cwd=PROJECT_DIR,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **popen_options,
            )
        self.processes.append(process)
        return process

    def stop_all(self, timeout: float = 10) -> None:
        for process in self.processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in self.processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def cpu_seconds_by_program() -> dict[str, float]:
    """CPU seconds (user + system) used so far by the running processes of this machine, summed by
    program name (``postgres``, ``gunicorn``, ``redis-server``, ...); read from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    totals: dict[str, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            raw = stat.read_text()
        except OSError:
            continue  # ended meanwhile
        name = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        totals[name] = totals.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return totals


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(fraction * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return f"{os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}, load average {load}"
