"""A real HTTP receiver on 127.0.0.1 for the customer's side, and workers over the webhooks queue."""

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import django_rq
import pytest
from rq import SimpleWorker

from bench.receivers import SlowReceiver
from webhooks.services import webhook_endpoint_create


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Answers each POST with the next of ``answers`` (status, seconds to wait first), then 200."""

    port: int = 0
    received: list[Received] = field(default_factory=list)
    answers: list[tuple[int, float]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str = "/hooks") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def types(self) -> list[str]:
        return [message.json["type"] for message in self.received]


@pytest.fixture
def receiver():
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with state.lock:
                answer = state.answers.pop(0) if state.answers else (200, 0)
            time.sleep(answer[1])
            with state.lock:
                state.received.append(Received(self.path, dict(self.headers), body))
            reply = b'{"ok": true}' if answer[0] < 300 else b"receiver says no"
            self.send_response(answer[0])
            if 300 <= answer[0] < 400:
                self.send_header("Location", "http://10.0.0.1/elsewhere")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def _private_urls(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True


@pytest.fixture
def run_webhook_worker(redis_conn):
    """A real rq worker in burst mode over the webhooks queue (the dispatcher runs there)."""

    def run(*, with_scheduler: bool = False) -> int:
        queue = django_rq.get_queue("webhooks", commit_mode="auto")
        worker = SimpleWorker([queue], connection=queue.connection)
        worker.work(burst=True, with_scheduler=with_scheduler)
        worker.refresh()
        return worker.successful_job_count + worker.failed_job_count

    return run


@pytest.fixture
def endpoint(organization, receiver):
    return webhook_endpoint_create(organization=organization, livemode=True, url=receiver.url())


@pytest.fixture
def slow_receiver():
    receivers = []

    def make(**options) -> SlowReceiver:
        receivers.append(SlowReceiver(**options))
        return receivers[-1]

    yield make
    for receiver in receivers:
        receiver.close()
