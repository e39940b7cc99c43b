"""The embedded default as README's first command runs it: scripts/serve with neither DATABASE_URL
nor REDIS_URL. SQLite, jobs inline after commit, email printed on the console; a sandbox key that
creates an invitation which is sent at once; /readyz naming what it checked."""

import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from tests.faults.support import service_environment
from tests.helpers import free_port as _free_port

ROOT = Path(__file__).resolve().parents[2]


def _call(url: str, *, key: str = "", body: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=json.dumps(body).encode() if body is not None else None)
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_scripts_serve_alone_creates_sends_and_prints_the_email(tmp_path):
    port = _free_port()
    unset = ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "DEBUG", "PUBLIC_BASE_URL")
    env = {name: value for name, value in os.environ.items() if name not in unset}
    env.update(PORT=str(port), SQLITE_PATH=str(tmp_path / "db.sqlite3"), PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        ["scripts/serve"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(line.decode() for line in process.stdout), daemon=True)
    reader.start()
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert process.poll() is None, "".join(output)
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.2)
        else:
            raise AssertionError("scripts/serve did not start listening:\n" + "".join(output))
        printed = "".join(output)
        key = re.search(r"Sandbox key:\s+(\S+)", printed).group(1)
        assert "printed here, on this console" in printed

        assert _call(f"{base}/readyz") == (
            200,
            {"status": "ok", "checks": {"sqlite": "ok", "redis": "not used: jobs run inline"}},
        )
        status, created = _call(
            f"{base}/v1/autodoc/invitations", key=key, body={"channel": "email", "recipient": "ana@example.com"}
        )
        assert (status, created["status"]) == (201, "pending")
        for _ in range(50):
            status, shown = _call(f"{base}/v1/autodoc/invitations/{created['token']}", key=key)
            if shown["status"] == "sent":
                break
            time.sleep(0.2)
        assert (status, shown["status"], shown["deliveryAttempts"]) == (200, "sent", 1)
        # The console email backend printed the message, its link naming this invitation.
        for _ in range(50):
            if f"/i/{created['token']}" in "".join(output):
                break
            time.sleep(0.1)
        printed = "".join(output)
        assert "To: ana@example.com" in printed
        assert f"{base}/i/{created['token']}" in printed
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_scripts_serve_with_its_workers_stops_within_ten_seconds(signum):
    """With PostgreSQL and Redis, scripts/serve runs the web server, the three worker pools and the
    sweeper; a signal to the script alone (SIGTERM from a supervisor) or to its whole group (Ctrl-C
    on a terminal) stops every one of them within 10 s."""
    port = _free_port()
    env = service_environment(PORT=str(port), DEBUG="1")
    process = subprocess.Popen(
        ["scripts/serve"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (_workers_of(process.pid, count=4) and _listening(port)):
            assert process.poll() is None and time.monotonic() < deadline, "scripts/serve did not start"
            time.sleep(0.2)
        assert _call(f"http://127.0.0.1:{port}/healthz")[0] == 200
        started = time.monotonic()
        if signum == signal.SIGINT:
            os.killpg(process.pid, signal.SIGINT)
        else:
            os.kill(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
        while _group_alive(process.pid) and time.monotonic() - started < 15:
            time.sleep(0.1)
        assert time.monotonic() - started < 10
        assert not _group_alive(process.pid)
    finally:
        if _group_alive(process.pid):
            os.killpg(process.pid, signal.SIGKILL)


def _processes() -> list[tuple[int, int, str]]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
                cmdline = open(f"/proc/{entry}/cmdline", "rb").read().replace(b"\0", b" ").decode()
            except OSError:
                continue
            found.append((int(entry), int(stat[2]), cmdline))  # pid, process group, command line
    return found


def _workers_of(group: int, *, count: int) -> bool:
    return (
        sum(1 for _, pgid, cmd in _processes() if pgid == group and ("runworkers" in cmd or "rqcron" in cmd)) >= count
    )


def _group_alive(group: int) -> bool:
    return any(pgid == group and not cmd.startswith("[") for _, pgid, cmd in _processes() if cmd)


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True
