"""Behind PgBouncer in transaction mode, the step every deployment takes once web and worker hosts
multiply, the default settings serve: Debian's pgbouncer with default_pool_size=2 in front of the
test database, the Procfile's web process and delivery pool on it, and creates, their deliveries,
resends and lists from many clients at once. Nothing prepared on the server, no session state kept
between transactions."""

import os
import shutil
import socket
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.db import connection

from bench.fake_providers import FakePostmark
from delivery.models import DeliveryAttempt
from invitations.models import Invitation
from tests.faults.support import Children, database_url, procfile_command, service_environment, start_gunicorn
from tests.helpers import free_port, http_call

pytestmark = pytest.mark.django_db(transaction=True)

COUNT = 40


@pytest.fixture
def children():
    started = Children()
    yield started
    started.stop_all()


@pytest.fixture
def pgbouncer():
    """Debian's pgbouncer on a free port, pool_mode=transaction, default_pool_size=2 (run as
    postgres: it refuses to run as root); its port."""
    program = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    assert os.path.exists(program), "pgbouncer is not installed (apt-get install pgbouncer)"
    directory = Path(tempfile.mkdtemp(prefix="invitations-pgbouncer-"))
    directory.chmod(0o777)  # its own user writes its log here
    db = connection.settings_dict
    port = free_port()
    (directory / "userlist.txt").write_text(f'"{db["USER"]}" ""\n')
    (directory / "pgbouncer.ini").write_text(
        f"""[databases]
{db["NAME"]} = host={db["HOST"] or "127.0.0.1"} port={db["PORT"] or 5432} dbname={db["NAME"]}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {directory}/userlist.txt
pool_mode = transaction
default_pool_size = 2
max_client_conn = 500
logfile = {directory}/pgbouncer.log
"""
    )
    for path in directory.iterdir():
        path.chmod(0o644)
    args = [program, *(["-u", "postgres"] if os.geteuid() == 0 else []), str(directory / "pgbouncer.ini")]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while True:
            assert process.poll() is None, (directory / "pgbouncer.log").read_text(errors="replace")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "pgbouncer did not start listening"
                time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(directory, ignore_errors=True)


def call(port: int, method: str, path: str, key: str, body: dict | None = None) -> tuple[int, dict]:
    return http_call(port, method, path, key=key, body=body)


def wait_until(condition, *, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def accepted(number: int) -> int:
    return DeliveryAttempt.objects.filter(number=number, status=DeliveryAttempt.Status.ACCEPTED).count()


def test_create_delivery_resend_and_list_through_pgbouncer_in_transaction_mode(
    children, pgbouncer, organization, live_key, tmp_path
):
    provider = FakePostmark(latency=0)
    env = service_environment(
        DATABASE_URL=database_url(port=pgbouncer),
        EMAIL_BACKEND="anymail.backends.postmark.EmailBackend",
        ANYMAIL_POSTMARK_SERVER_TOKEN="postmark-server-token",
        ANYMAIL_POSTMARK_API_URL=provider.url + "/",
        # The resends follow their sends at once, 40 from one organization: the cooldown and the
        # resend throttle are not what is under test here.
        INVITATION_RESEND_COOLDOWN_SECONDS="0",
        RESEND_RATE_PER_ORG="100/m",
        RESEND_RATE_PER_IP="100/m",
    )
    try:
        port = start_gunicorn(children, env=env, log=tmp_path / "web.log", workers=2)
        children.start([*procfile_command("delivery"), "--processes", "2"], env=env, log=tmp_path / "delivery.log")
        with ThreadPoolExecutor(8) as clients:
            creates = list(
                clients.map(
                    lambda n: call(
                        port,
                        "POST",
                        "/v1/autodoc/invitations",
                        live_key,
                        {"channel": "email", "recipient": f"p{n}@example.com"},
                    ),
                    range(COUNT),
                )
            )
            assert [status for status, _ in creates] == [201] * COUNT, creates
            wait_until(lambda: accepted(1) == COUNT)
            resends = list(
                clients.map(
                    lambda created: call(
                        port, "POST", f"/v1/autodoc/invitations/{created[1]['token']}/resend", live_key
                    ),
                    creates,
                )
            )
        assert [status for status, _ in resends] == [200] * COUNT, resends
        wait_until(lambda: accepted(2) == COUNT)
        status, listed = call(port, "GET", "/v1/autodoc/invitations?per_page=100&status=sent", live_key)
        assert status == 200, listed
        assert listed["pagination"]["total"] == COUNT
        assert Invitation.objects.filter(status=Invitation.Status.SENT, delivery_attempts=2).count() == COUNT
        # Each send reached the provider once.
        keys = [next(h["Value"] for h in m["Headers"] if h["Name"] == "X-Delivery-Attempt") for m in provider.messages]
        assert len(keys) == len(set(keys)) == 2 * COUNT
        logs = (tmp_path / "web.log").read_text(errors="replace") + (tmp_path / "delivery.log").read_text(
            errors="replace"
        )
        assert "prepared statement" not in logs
    finally:
        provider.stop()
