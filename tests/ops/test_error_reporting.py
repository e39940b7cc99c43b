"""SENTRY_DSN: errors reach a Sentry-protocol receiver on this machine, tagged with the request id,
without personal data or secrets; unset, sentry-sdk is not even imported."""

import gzip
import json
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench import harness

SCRIPT = """
import django, sys
django.setup()
from django.test import Client
from django.test.utils import override_settings
with override_settings(ROOT_URLCONF="tests.ops.crash_urls"):
    response = Client().get("/v1/crash", HTTP_USER_AGENT="crm-sync/2.1", REMOTE_ADDR="203.0.113.9")
print(response.status_code, response["Request-Id"])
if "sentry_sdk" in sys.modules:
    import sentry_sdk
    sentry_sdk.flush(10)
print("sentry imported:", "sentry_sdk" in sys.modules)
"""


class Receiver(BaseHTTPRequestHandler):
    envelopes: list[bytes] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        Receiver.envelopes.append(body)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


@pytest.fixture
def sentry_receiver():
    Receiver.envelopes = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


def run(env_extra: dict) -> str:
    from tests.faults.support import service_environment

    env = service_environment(**env_extra)
    if "SENTRY_DSN" not in env_extra:
        env.pop("SENTRY_DSN", None)
    done = subprocess.run(
        [harness.PYTHON, "-c", SCRIPT], cwd=harness.PROJECT_DIR, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def events(envelopes: list[bytes]) -> list[dict]:
    found = []
    for envelope in envelopes:
        lines = envelope.split(b"\n")
        for header, payload in zip(lines[1::2], lines[2::2], strict=False):
            if json.loads(header).get("type") == "event":
                found.append(json.loads(payload))
    return found


@pytest.mark.django_db
def test_an_error_reaches_sentry_tagged_with_its_request_id_and_without_personal_data(sentry_receiver):
    port = sentry_receiver.server_address[1]
    out = run({"SENTRY_DSN": f"http://publickey@127.0.0.1:{port}/42", "SENTRY_ENVIRONMENT": "ci"})
    status, request_id = out.splitlines()[0].split()
    assert status == "500" and "sentry imported: True" in out
    [event] = events(Receiver.envelopes)
    assert event["tags"]["request_id"] == request_id
    assert event["environment"] == "ci"
    text = json.dumps(event)
    assert "RuntimeError" in text and "a***@example.com" in text
    for private in ("ana@example.com", "private_abcdefghijklmnop1234", "203.0.113.9"):
        assert private not in text
    # No body (and here there was none to send), no cookies, no client address.
    request = event.get("request", {})
    assert request.get("data") in (None, "") and "cookies" not in request and "user" not in event


def test_without_a_dsn_sentry_is_not_imported():
    out = run({})
    assert "sentry imported: False" in out
