"""Tests run against the real PostgreSQL and Redis named by DATABASE_URL and REDIS_URL.

They refuse to run on anything else rather than skip: a green run means the real services were used.
"""

import base64
import subprocess
import threading
import time

import django_rq
import pytest
import redis
from django.conf import settings
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, connection
from redis import Redis
from rest_framework.test import APIClient
from rq import SimpleWorker

from accounts.principals import Actor
from accounts.services import api_key_create
from delivery import sms
from requestlog.store import request_log_send
from tests.factories import OrganizationFactory
from tests.helpers import free_port as _free_port

TEST_ACTOR = Actor.system("tests")


def pytest_configure(config):
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        raise pytest.UsageError("Tests need PostgreSQL: set DATABASE_URL (scripts/test does).")
    if not settings.REDIS_URL:
        raise pytest.UsageError("Tests need Redis: set REDIS_URL (scripts/test does).")
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.SMS_BACKEND = "delivery.sms.LocmemSmsBackend"
    settings.DELIVERY_INLINE = False


@pytest.fixture(scope="session")
def redis_conn() -> Redis:
    conn = django_rq.get_connection("delivery")
    conn.ping()  # fails the run loudly when Redis is down
    return conn


@pytest.fixture(autouse=True)
def _clean_redis_and_outboxes(redis_conn):
    # Entries an earlier test's requests left in this process's request log buffer go first.
    request_log_send()
    redis_conn.flushdb()
    sms.outbox.clear()
    yield
    sms.outbox.clear()


@pytest.fixture
def delivery_queue(redis_conn):
    return django_rq.get_queue("delivery", commit_mode="auto")


class CountingWorker(SimpleWorker):
    """rq's in-process worker, counting the jobs it executed (rq keeps its own counts in Redis)."""

    executed = 0

    def execute_job(self, job, queue):
        self.executed += 1
        return super().execute_job(job, queue)


@pytest.fixture
def run_worker(redis_conn):
    """Run a real rq worker in burst mode over the delivery queues (live, then sandbox), as the
    delivery pool's workers take them; returns how many jobs it ran."""

    def run(*, with_scheduler: bool = False) -> int:
        queues = [django_rq.get_queue(name, commit_mode="auto") for name in settings.WORKER_POOLS["delivery"]["queues"]]
        worker = CountingWorker(queues, connection=redis_conn)
        worker.work(burst=True, with_scheduler=with_scheduler)
        return worker.executed

    return run


@pytest.fixture
def organization(db):
    return OrganizationFactory()


@pytest.fixture
def other_organization(db):
    return OrganizationFactory()


@pytest.fixture
def live_key(organization) -> str:
    return api_key_create(organization=organization, livemode=True, name="live", actor=TEST_ACTOR)[1]


@pytest.fixture
def sandbox_key(organization) -> str:
    return api_key_create(organization=organization, livemode=False, name="sandbox", actor=TEST_ACTOR)[1]


def client_for(raw_key: str | None, *, basic: bool = False) -> APIClient:
    client = APIClient()
    if raw_key and basic:
        client.credentials(HTTP_AUTHORIZATION="Basic " + base64.b64encode(f"{raw_key}:".encode()).decode())
    elif raw_key:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return client


@pytest.fixture
def api(live_key) -> APIClient:
    return client_for(live_key)


@pytest.fixture
def sandbox_api(sandbox_key) -> APIClient:
    return client_for(sandbox_key)


# --- Dashboard users and their JWTs ---------------------------------------------------------------
MEMBER_PASSWORD = "a long enough test password"


@pytest.fixture
def make_member(organization):
    """make_member(role, organization=..., email=...) -> the user, with MEMBER_PASSWORD."""
    from django.contrib.auth import get_user_model

    from accounts.models import Membership

    counter = iter(range(1, 1000))

    def make(role: str = "agent", *, organization=organization, email: str | None = None, is_active: bool = True):
        email = email or f"member{next(counter)}-{organization.slug}@example.com"
        user = get_user_model().objects.create_user(
            username=email, email=email, password=MEMBER_PASSWORD, is_active=is_active
        )
        Membership.objects.create(user=user, organization=organization, role=role)
        return user

    return make


def token_pair_for(user, organization, *, password: str = MEMBER_PASSWORD) -> dict:
    response = APIClient().post(
        "/v1/auth/token",
        {"email": user.email, "password": password, "organization": organization.slug},
        format="json",
    )
    assert response.status_code == 200, response.json()
    return response.json()


@pytest.fixture
def jwt_api(make_member, organization) -> APIClient:
    """A client acting as an agent of ``organization`` through a JWT."""
    return client_for(token_pair_for(make_member("agent"), organization)["accessToken"])


# --- A Redis of a test's own, that the test can stop -------------------------------------------


class RedisServer:
    """A redis-server of this test's own, that the test can stop and start again."""

    def __init__(self, directory):
        self.port = _free_port()
        self.directory = directory
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=self.directory,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def own_redis(settings, tmp_path):
    """Point the job queues at a Redis started for this test (the cache stays on the shared one)."""
    server = RedisServer(tmp_path)
    server.start()
    settings.RQ_QUEUES = {name: {**config, "URL": server.url} for name, config in settings.RQ_QUEUES.items()}
    yield server
    server.stop()


def at_once(count: int, call, *, timeout: float = 30) -> list:
    """Run ``call()`` on ``count`` threads released together (each closing its database connection
    after); their results, in the order they finished. A call that raised leaves no result."""
    barrier = threading.Barrier(count)
    results = []
    lock = threading.Lock()

    def run():
        try:
            barrier.wait()
            result = call()
            with lock:
                results.append(result)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    return results


# --- Providers' HTTP APIs on 127.0.0.1 (bench.fake_providers), the real clients pointed at them ---
POSTMARK_WEBHOOK_AUTH = "hook:s3cret"


@pytest.fixture
def fake_postmark(settings):
    """Email through anymail's real Postmark backend to a Postmark-compatible server on 127.0.0.1."""
    from bench.fake_providers import FakePostmark

    provider = FakePostmark(latency=0)
    settings.EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
    settings.ANYMAIL = {
        "POSTMARK_SERVER_TOKEN": "postmark-server-token",
        "POSTMARK_API_URL": provider.url + "/",
        "WEBHOOK_SECRET": POSTMARK_WEBHOOK_AUTH,
    }
    yield provider
    provider.stop()


@pytest.fixture
def fake_twilio(settings):
    """SMS through the real twilio client to a Twilio-compatible server on 127.0.0.1."""
    from bench.fake_providers import FakeTwilio

    sid, token = "AC00000000000000000000000000000009", "twilio-auth-token"
    provider = FakeTwilio(latency=0, account_sid=sid, auth_token=token)
    settings.SMS_BACKEND = "delivery.sms.TwilioSmsBackend"
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = sid, token
    settings.TWILIO_API_BASE_URL = provider.url
    settings.TWILIO_WEBHOOK_BASE_URL = "https://invitations.example.com"
    yield provider
    provider.stop()


def postmark_webhook(client, payload: dict):
    """Post a Postmark webhook to anymail's tracking view, with its HTTP Basic credential."""
    import json

    return client.post(
        "/webhooks/anymail/postmark/tracking/",
        data=json.dumps(payload),
        content_type="application/json",
        HTTP_AUTHORIZATION="Basic " + base64.b64encode(POSTMARK_WEBHOOK_AUTH.encode()).decode(),
    )


def postmark_record(record_type: str, attempt, **fields) -> dict:
    """A Postmark webhook payload about ``attempt``'s message (Bounce, SpamComplaint, Delivery, ...)."""
    payload = {
        "RecordType": record_type,
        "ID": abs(hash((record_type, attempt.pk, tuple(sorted(fields.items()))))) % 10**15,
        "MessageID": attempt.provider_message_id,
        "Metadata": {"delivery_attempt_id": str(attempt.pk), "invitation_token": attempt.invitation.token},
        "ServerID": 23,
        "MessageStream": "outbound",
        "Email": attempt.recipient,
        "Recipient": attempt.recipient,
        "Tag": "invitation",
        "From": "invitations@example.com",
        "BouncedAt": "2026-03-02T09:00:06Z",
        "DeliveredAt": "2026-03-02T09:00:06Z",
    }
    payload.update(fields)
    return payload


def queued_attempt_ids(queue, *, with_sandbox: bool = False) -> list[int]:
    """The delivery attempts the queue's jobs name: a lone send's job names one, a batch's several.
    ``with_sandbox``: those waiting in the sandbox delivery queue too."""
    queues = [queue, django_rq.get_queue("delivery-sandbox")] if with_sandbox else [queue]
    ids: list[int] = []
    for job in (job for each in queues for job in each.get_jobs()):
        ids += job.args[0] if isinstance(job.args[0], list) else [job.args[0]]
    return ids


@pytest.fixture
def wsgi_app_shares_the_test_transaction():
    """Let requests made straight to the WSGI app run inside the test's transaction.

    The request signals would close the test's database connection after each request; Django's own
    test client disconnects them for the same reason.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)
