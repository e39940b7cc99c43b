"""The web process, exactly as the Procfile starts it, bounds what idle clients can hold: a connection
whose request does not arrive within WEB_HEADER_TIMEOUT_SECONDS is closed, a worker holds at most
GUNICORN_WORKER_CONNECTIONS, and running out of descriptors logs a line a second, not a flood."""

import socket
import threading
import time

import pytest

from tests.faults.support import Children, service_environment, start_gunicorn
from tests.invitations_project.test_slow_clients import get, wait_until_answering

pytestmark = pytest.mark.django_db(transaction=True)


def serve(tmp_path, wrapper=(), **settings: str):
    children = Children()
    log = tmp_path / "web.log"
    env = service_environment(WEB_CONCURRENCY="1", LOG_LEVEL="WARNING", SECURE_SSL_REDIRECT="0", **settings)
    port = start_gunicorn(children, env=env, log=log, workers=1, wrapper=wrapper)
    wait_until_answering(port)
    return children, port, log


def seconds_until_closed(sock: socket.socket, started: float, limit: float = 15) -> float:
    """Seconds from ``started`` until the server closes ``sock`` (end of stream or reset)."""
    sock.settimeout(limit)
    try:
        while sock.recv(4096):
            pass
    except ConnectionResetError:
        pass
    except TimeoutError:
        return float("inf")
    return time.monotonic() - started


def test_a_connection_whose_request_never_completes_is_closed_after_the_header_timeout(tmp_path):
    children, port, _log = serve(tmp_path, WEB_HEADER_TIMEOUT_SECONDS="2")
    try:
        started = time.monotonic()
        silent = socket.create_connection(("127.0.0.1", port))
        half = socket.create_connection(("127.0.0.1", port))
        half.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: a")
        trickle = socket.create_connection(("127.0.0.1", port))
        stop = threading.Event()

        def drip():
            # A byte every 200 ms: each arrives well inside any per-read timeout.
            for byte in b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Slow: " + b"a" * 200:
                if stop.wait(0.2):
                    return
                try:
                    trickle.sendall(bytes([byte]))
                except OSError:
                    return

        dripping = threading.Thread(target=drip)
        dripping.start()
        try:
            closed = [seconds_until_closed(sock, started) for sock in (silent, half, trickle)]
        finally:
            stop.set()
            dripping.join()
        assert all(1.5 < seconds < 4 for seconds in closed), closed
        # A request that arrives in time is answered as always, on a connection opened meanwhile.
        assert get(port, "/healthz", timeout=5)[0] == 200
    finally:
        children.stop_all()


def test_a_worker_holds_at_most_its_worker_connections_and_refuses_the_rest_with_503(tmp_path):
    children, port, _log = serve(tmp_path, WEB_HEADER_TIMEOUT_SECONDS="60", GUNICORN_WORKER_CONNECTIONS="10")
    held = []
    try:
        for _ in range(25):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: a")
            held.append(sock)
        answers = []
        for sock in held:
            sock.settimeout(1)
            try:
                answers.append(sock.recv(4096))
            except TimeoutError:
                answers.append(None)
        refused = [answer for answer in answers if answer is not None]
        assert answers[:10] == [None] * 10  # the first ten are held, waiting for their request
        assert len(refused) == 15
        assert all(answer.startswith(b"HTTP/1.1 503 Service Unavailable\r\n") for answer in refused)
        assert b"Retry-After: 1\r\n" in refused[0] and b'"type": "service_unavailable"' in refused[0]
        for sock in held:
            sock.close()
        held.clear()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the held ones are let go: room again
            status, _ = get(port, "/healthz", timeout=5)
            if status == 200:
                break
            time.sleep(0.1)
        assert status == 200
    finally:
        for sock in held:
            sock.close()
        children.stop_all()


def test_an_oversized_header_block_is_a_431_with_its_reason_phrase(tmp_path):
    children, port, _log = serve(tmp_path)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n")
            head = sock.recv(200)
        assert head.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"), head
    finally:
        children.stop_all()


def test_out_of_descriptors_the_worker_logs_a_line_a_second_and_recovers(tmp_path):
    """Under 128 descriptors and a connection cap far above it (a deployment that forgot LimitNOFILE),
    300 idle clients exhaust the descriptors: accepting stops for a second at a time, with one line
    each, and once the header timeout has closed the idle ones the worker answers again."""
    children, port, log = serve(tmp_path, wrapper=("prlimit", "--nofile=128:128"), WEB_HEADER_TIMEOUT_SECONDS="3")
    held = []
    try:
        before = log.stat().st_size
        started = time.monotonic()
        for _ in range(300):
            sock = socket.socket()
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", port))  # into the kernel's backlog, or dropped past it
            held.append(sock)
        time.sleep(6)
        elapsed = time.monotonic() - started
        written = log.read_bytes()[before:].decode(errors="replace")
        errors = written.count("out of system resource")
        assert 1 <= errors <= elapsed + 1, (errors, elapsed)
        assert len(written) < 50_000
        for sock in held:
            sock.close()
        held.clear()
        wait_until_answering(port, timeout=20)
    finally:
        for sock in held:
            sock.close()
        children.stop_all()
