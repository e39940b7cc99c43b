"""The web process, exactly as the Procfile starts it, keeps answering while slow clients hold
connections open with half-sent headers or bodies (a slowloris), and its access log stays one JSON
object a line whatever the request line holds."""

import json
import os
import signal
import socket
import time
from pathlib import Path

import pytest

from bench import harness
from ops.checks import metrics_directory
from tests.faults.support import Children, service_environment, start_gunicorn

pytestmark = pytest.mark.django_db(transaction=True)

SLOW_CLIENTS = 60


@pytest.fixture
def web(tmp_path):
    children = Children()
    log = tmp_path / "web.log"
    env = service_environment(WEB_CONCURRENCY="2", LOG_LEVEL="WARNING", SECURE_SSL_REDIRECT="0")
    port = start_gunicorn(children, env=env, log=log, workers=2)
    wait_until_answering(port)
    yield port, log
    children.stop_all()


def wait_until_answering(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if get(port, "/healthz", timeout=2)[0] == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("the web process did not start answering")


def get(port: int, path: str, *, timeout: float) -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status = int(answer.split(b" ", 2)[1])
    return status, answer


def test_sixty_clients_holding_half_sent_requests_do_not_stall_healthz(web):
    port, _log = web
    held = []
    try:
        for number in range(SLOW_CLIENTS):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            if number % 2:
                # Headers cut off in the middle of a line.
                sock.sendall(b"GET /v1/autodoc/invitations HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: a")
            else:
                # Headers whole, but the body announced never comes.
                sock.sendall(
                    b"POST /v1/autodoc/invitations HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
                )
            held.append(sock)
        time.sleep(1)  # every slow connection has reached the server's workers by now
        answered = []
        for _ in range(5):
            started = time.monotonic()
            status, _ = get(port, "/healthz", timeout=2)  # raises if no answer within 2 s
            answered.append((status, time.monotonic() - started))
        assert [status for status, _ in answered] == [200] * 5
        assert max(seconds for _, seconds in answered) < 2
    finally:
        for sock in held:
            sock.close()


def test_the_access_log_is_one_json_object_a_line_whatever_the_request_line_holds(web):
    port, log = web
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        # A percent-encoded newline and escape character in the path, quotes and a backslash in the
        # user agent (a raw control character there is refused by gunicorn itself).
        sock.sendall(
            b"GET /healthz%0A%7B%22forged%22%3A1%7D%1B[31m HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b'User-Agent: evil"}, {"level": "ERROR\\\r\nConnection: close\r\n\r\n'
        )
        while sock.recv(65536):
            pass
    get(port, "/healthz", timeout=5)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lines = [line for line in log.read_text(errors="replace").splitlines() if '"gunicorn.access"' in line]
        if len(lines) >= 2:
            break
        time.sleep(0.1)
    entries = [json.loads(line) for line in lines]  # every line parses on its own
    odd = next(entry for entry in entries if entry["path"] != "/healthz")
    assert odd["path"] == '/healthz\n{"forged":1}\x1b[31m'
    assert odd["user_agent"] == 'evil"}, {"level": "ERROR\\'
    assert odd["level"] == "INFO" and "forged" not in {key for entry in entries for key in entry}
    assert all("\x1b" not in line for line in lines)  # escaped inside its string, never raw


@pytest.mark.parametrize("where", ["set", "default"])
def test_a_dead_web_workers_live_metrics_are_removed_and_its_counts_kept(tmp_path, where):
    children = Children()
    log = tmp_path / "web.log"
    env = service_environment(LOG_LEVEL="WARNING", SECURE_SSL_REDIRECT="0")
    if where == "set":
        metrics = tmp_path / "metrics"
        env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics)
    else:
        # Unset: the deployment's own default, which gunicorn's master finds as the settings do.
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        metrics = Path(metrics_directory(env))
        assert metrics == Path(harness.PROJECT_DIR) / "var" / "metrics"
    try:
        port = start_gunicorn(children, env=env, log=log, workers=1)
        wait_until_answering(port)
        [pid] = {json.loads(line)["pid"] for line in log.read_text().splitlines() if '"gunicorn.access"' in line}
        assert (metrics / f"gauge_livesum_{pid}.db").exists()
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while (metrics / f"gauge_livesum_{pid}.db").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not (metrics / f"gauge_livesum_{pid}.db").exists()  # child_exit: mark_process_dead
        assert (metrics / f"counter_{pid}.db").exists()  # what it counted still counts
        wait_until_answering(port)  # a new worker took its place
    finally:
        children.stop_all()


@pytest.mark.parametrize("application", ["invitations_project.asgi", "invitations_project.wsgi"])
def test_gunicorn_serves_django_as_its_deployment_docs_name_it_asgi_or_wsgi(
    application, tmp_path, organization, live_key
):
    """`gunicorn invitations_project.wsgi`, the command Django's deployment docs show, and the
    Procfile's `gunicorn invitations_project.asgi` both serve, with gunicorn.conf.py as it is."""
    children = Children()
    port = harness.free_port()
    env = service_environment(PORT=str(port), WEB_CONCURRENCY="1", SECURE_SSL_REDIRECT="0")
    children.start([harness.PYTHON, "-m", "gunicorn", application], env=env, log=tmp_path / "web.log")
    try:
        wait_until_answering(port)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(
                f"GET /v1/autodoc/invitations HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {live_key}\r\n"
                "Connection: close\r\n\r\n".encode()
            )
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.split(b" ", 2)[1] == b"200", answer[:500]
        assert json.loads(body)["pagination"]["total"] == 0
        worker = "gthread" if application.endswith("wsgi") else "invitations_project.webserver.ASGIWorker"
        assert f"Using worker: {worker}" in (tmp_path / "web.log").read_text()
    finally:
        children.stop_all()


def test_a_body_sent_in_chunks_is_read_like_any_other(web, organization, live_key):
    port, _log = web
    body = json.dumps({"channel": "email", "recipient": "chunked@example.com"}).encode()
    chunks = b"".join(f"{len(part):x}\r\n".encode() + part + b"\r\n" for part in (body[:10], body[10:])) + b"0\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/autodoc/invitations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {live_key}\r\n".encode()
            + b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            + chunks
        )
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.split(b" ", 2)[1] == b"201", answer[:600]
    assert json.loads(payload)["recipient"] == "chunked@example.com"
