"""The throttles across several real web processes: gunicorn workers behind one address, sharing
their counters through Redis. Windows are tested with time_machine in test_throttles.py; here the
windows are a week long so the real clock cannot cross one while the requests are in flight."""

import json
import os
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from accounts.services import api_key_create
from invitations.models import Invitation
from tests.conftest import TEST_ACTOR
from tests.factories import InvitationFactory, OrganizationFactory
from tests.faults.support import procfile_command
from tests.helpers import free_port as _free_port

BASE_DIR = Path(__file__).resolve().parents[2]
WORKERS = 3


@pytest.fixture
def web_processes(transactional_db, tmp_path):
    """Three gunicorn workers on the test database and Redis, trusting 127.0.0.1 as their proxy."""
    db = connection.settings_dict
    port = _free_port()
    access_log = tmp_path / "access.log"
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "DB_CONN_MAX_AGE": "0",
        "REDIS_URL": settings.REDIS_URL,
        "SECRET_KEY": settings.SECRET_KEY,
        "TRUSTED_PROXIES": "127.0.0.1",
        "RESEND_RATE_PER_ORG": "20/7d",
        "RESEND_RATE_PER_IP": "30/7d",
        "LOG_LEVEL": "ERROR",
    }
    process = subprocess.Popen(
        [*procfile_command("web"), "-b", f"127.0.0.1:{port}", "-w", str(WORKERS), "--access-logfile", str(access_log)],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("gunicorn did not start") from None
                time.sleep(0.1)  # waiting for a process to listen, not for the clock
        yield SimpleServer(f"http://127.0.0.1:{port}", access_log)
    finally:
        process.terminate()
        process.wait(timeout=30)


class SimpleServer:
    def __init__(self, base_url: str, access_log: Path):
        self.base_url = base_url
        self.access_log = access_log

    def resend(self, raw_key: str, token: str, client_ip: str) -> tuple[int, dict]:
        request = urllib.request.Request(
            f"{self.base_url}/v1/autodoc/invitations/{token}/resend",
            method="POST",
            headers={"Authorization": f"Bearer {raw_key}", "X-Forwarded-For": client_ip},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            return error.code, json.load(error)

    def worker_pids(self) -> set[str]:
        lines = self.access_log.read_text().splitlines()
        return {json.loads(line)["pid"] for line in lines if line.startswith("{")}


def _concurrently(calls):
    results = [None] * len(calls)
    barrier = threading.Barrier(len(calls))

    def run(index):
        barrier.wait(timeout=30)
        results[index] = calls[index]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def test_three_web_processes_share_one_organization_bucket_and_one_ip_bucket(web_processes):
    organization = OrganizationFactory()
    raw_key = api_key_create(organization=organization, livemode=True, actor=TEST_ACTOR)[1]
    invitations = [InvitationFactory(organization=organization) for _ in range(50)]

    results = _concurrently(
        [lambda i=i: web_processes.resend(raw_key, invitations[i].token, f"203.0.113.{i + 1}") for i in range(50)]
    )

    assert sorted(status for status, _ in results) == [200] * 20 + [429] * 30
    refused = [body["error"] for status, body in results if status == 429]
    assert {(error["type"], error["scope"]) for error in refused} == {("rate_limited", "organization")}
    assert Invitation.objects.filter(delivery_attempts=2).count() == 20

    # One client address, two organizations with room in their own buckets: the 31st is refused
    # by the IP bucket, whichever process serves it.
    others = [OrganizationFactory() for _ in range(2)]
    keys = [api_key_create(organization=other, livemode=True, actor=TEST_ACTOR)[1] for other in others]
    unknown = "adi_doesnotexist000000000000"
    results = _concurrently([lambda n=n: web_processes.resend(keys[n % 2], unknown, "192.0.2.77") for n in range(30)])
    assert [status for status, _ in results] == [404] * 30
    status, body = web_processes.resend(keys[0], unknown, "192.0.2.77")
    assert (status, body["error"]["scope"]) == (429, "ip")

    # The requests really were spread over several processes.
    assert len(web_processes.worker_pids()) >= 2
