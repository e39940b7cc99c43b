"""The PostgreSQL connection cut under a request: a 503 envelope, and nothing left half-done.

The service runs as gunicorn (one worker, as the Procfile starts it) reaching PostgreSQL through a
proxy that cuts every connection when it sees a chosen piece of SQL (tests/faults/cutting_proxy.py).
The test reads the database over its own direct connection and Redis over its own client.
"""

import http.client
import json
from datetime import timedelta

import django_rq
import pytest
from django.apps import apps
from django.conf import settings
from django.core import mail
from django.db import connection
from django.utils import timezone

from api.errors import ServiceUnavailable
from api.models import IdempotentRequest
from billing.models import BillingEvent
from delivery import sms
from delivery.models import DeliveryAttempt
from invitations.models import Invitation, InvitationEvent
from invitations.services import workflow_get_default
from tests.factories import InvitationFactory
from tests.faults.cutting_proxy import CuttingProxy
from tests.faults.support import Children, database_url, report, service_environment, start_gunicorn, sweep, tally
from tests.helpers import http_call

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]

APPLICATION_NAME = "faults-web"
PHONE = "+4915112345678"
# Where to cut: SQL text the service sends, in the order a create or a resend sends it.
CUT_AT = {
    "the API key lookup": b'FROM "accounts_apikey"',
    "the attempt INSERT": b'INSERT INTO "delivery_deliveryattempt"',
    "the COMMIT": b"COMMIT",
}


class Web:
    def __init__(self, port: int, proxy: CuttingProxy):
        self.port = port
        self.proxy = proxy

    def call(self, method: str, path: str, *, key: str, body: dict | None = None, idempotency_key: str = ""):
        return http_call(self.port, method, path, key=key, body=body, idempotency_key=idempotency_key)


@pytest.fixture(scope="module")
def web(django_db_setup, tmp_path_factory):
    """gunicorn on the test database through the cutting proxy, for every test of this module."""
    db = settings.DATABASES["default"]
    proxy = CuttingProxy((db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432)))
    children = Children()
    env = service_environment(
        DATABASE_URL=database_url(host="127.0.0.1", port=proxy.port, application_name=APPLICATION_NAME)
    )
    try:
        yield Web(start_gunicorn(children, env=env, log=tmp_path_factory.mktemp("web") / "gunicorn.log"), proxy)
    finally:
        children.stop_all()
        proxy.close()


@pytest.fixture
def writes(web, organization, live_key):
    """The two requests that write: a create (with an Idempotency-Key) and a resend."""
    workflow_get_default(organization=organization)  # made beforehand: its own COMMIT is not the one cut
    invitation = InvitationFactory(organization=organization, sent_at=timezone.now() - timedelta(minutes=10))

    def create():
        body = {"channel": "sms", "recipient": PHONE, "reference": "crm-1"}
        return web.call("POST", "/v1/autodoc/invitations", key=live_key, body=body, idempotency_key="create-1")

    def resend():
        return web.call("POST", f"/v1/autodoc/invitations/{invitation.token}/resend", key=live_key)

    # The service's connection is open and the key's last use recorded before anything is cut.
    assert web.call("GET", "/v1/autodoc/invitations", key=live_key)[0] == 200
    return {"create": create, "resend": resend, "invitation": invitation}


def created_with_key(key: str) -> Invitation:
    """The invitation the create stored under this Idempotency-Key made."""
    return Invitation.objects.get(token=IdempotentRequest.objects.get(key=key).response_body["token"])


def database_state() -> dict[str, tuple[int, str]]:
    """Row count and a digest of every row of the service's own tables, read over a direct connection."""
    tables = sorted(
        [
            *(
                model._meta.db_table
                for label in ("accounts", "invitations", "delivery", "billing")
                for model in apps.get_app_config(label).get_models()
            ),
            # A claimed Idempotency-Key is released when its request fails, or the retry would get a 409.
            IdempotentRequest._meta.db_table,
        ]
    )
    state = {}
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(
                f"SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table} t"
            )
            state[table] = cursor.fetchone()
    return state


def jobs_in_redis() -> int:
    redis = django_rq.get_connection("delivery")
    return sum(1 for _ in redis.scan_iter("rq:job:*"))


def assert_unavailable(status: int, body: dict) -> None:
    assert status == 503, body
    error = dict(body["error"])
    assert error.pop("requestId").startswith("req_")
    assert error == {"type": "service_unavailable", "message": ServiceUnavailable.default_message}


@pytest.mark.parametrize("moment", list(CUT_AT))
@pytest.mark.parametrize("kind", ["create", "resend"])
def test_a_cut_connection_answers_503_changes_nothing_and_a_retry_makes_exactly_one_attempt(web, writes, kind, moment):
    before = database_state()
    cut = web.proxy.cut_when(CUT_AT[moment])
    status, body = writes[kind]()
    web.proxy.disarm()

    assert cut.fired.is_set(), f"the request never sent {CUT_AT[moment]!r}"
    assert_unavailable(status, body)
    assert database_state() == before
    assert jobs_in_redis() == 0

    retry_status, retry_body = writes[kind]()
    assert retry_status == {"create": 201, "resend": 200}[kind], retry_body
    if kind == "create":
        invitation = created_with_key("create-1")
        attempts = DeliveryAttempt.objects.filter(invitation=invitation)
        assert (retry_body["token"], attempts.count()) == (invitation.token, 1)
    else:
        invitation = writes["invitation"]
        invitation.refresh_from_db()
        assert (invitation.status, invitation.delivery_attempts) == (Invitation.Status.PENDING, 2)
        attempts = DeliveryAttempt.objects.filter(invitation=invitation)
        assert list(attempts.values_list("number", flat=True)) == [2]
    made = DeliveryAttempt.objects.count()
    assert made == 1
    assert jobs_in_redis() == django_rq.get_queue("delivery").count == 1

    report(
        f"PostgreSQL cut at {moment}, during a {kind}",
        {
            "connections cut": cut.connections_cut,
            "answer": f"{status} {body['error']['type']}",
            "database": "unchanged (every row of the service's tables compared)",
            "jobs in Redis": 0,
            "retry": f"{retry_status}; 1 attempt, 1 job",
        },
        lost=max(0, 1 - made),
        duplicates=max(0, made - 1),
    )


@pytest.mark.parametrize("kind", ["create", "resend"])
def test_a_lost_commit_answer_is_a_503_yet_the_work_is_whole_and_delivered_once(web, writes, kind, run_worker):
    cut = web.proxy.cut_when(CUT_AT["the COMMIT"], forward=True)
    status, body = writes[kind]()
    web.proxy.disarm()

    assert cut.fired.is_set()
    assert_unavailable(status, body)
    # PostgreSQL committed; only its answer was lost. The job was never enqueued: the service
    # enqueues after a commit it saw succeed.
    if kind == "create":
        invitation = created_with_key("create-1")
    else:
        invitation = Invitation.objects.get(pk=writes["invitation"].pk)
    assert (invitation.status, invitation.delivery_attempts) == (
        Invitation.Status.PENDING,
        1 if kind == "create" else 2,
    )
    attempt = DeliveryAttempt.objects.get()
    assert (attempt.invitation_id, attempt.number, attempt.status) == (
        invitation.pk,
        invitation.delivery_attempts,
        DeliveryAttempt.Status.QUEUED,
    )
    assert InvitationEvent.objects.filter(invitation=invitation, to_status=Invitation.Status.PENDING).count() == 1
    assert jobs_in_redis() == 0

    retry_status, retry_body = writes[kind]()
    if kind == "create":
        # The same Idempotency-Key finds what the first request committed.
        assert (retry_status, retry_body["token"]) == (201, invitation.token)
    else:
        # The resend happened; the invitation is pending its delivery.
        assert retry_status == 409, retry_body
        assert (retry_body["error"]["type"], retry_body["error"]["status"]) == ("invalid_status", "pending")
    assert DeliveryAttempt.objects.count() == 1
    assert jobs_in_redis() == 0

    grace = timedelta(seconds=settings.DELIVERY_SWEEP_GRACE_SECONDS)
    inside = sweep(at=attempt.updated_at + grace - timedelta(seconds=1))
    assert inside.startswith("Enqueued 0 delivery attempts"), inside
    after = sweep(at=attempt.updated_at + grace + timedelta(seconds=1))
    assert after.startswith("Enqueued 1 delivery attempts (queued: 1,"), after
    ran = run_worker()

    attempt.refresh_from_db()
    assert (attempt.status, attempt.tries) == (DeliveryAttempt.Status.ACCEPTED, 1)
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.SENT
    keys = [message.idempotency_key for message in sms.outbox]
    keys += [message.extra_headers["X-Delivery-Attempt"] for message in mail.outbox]
    assert keys == [f"delivery-attempt-{attempt.pk}"]
    lost, duplicates = tally({f"delivery-attempt-{attempt.pk}"}, keys)
    billed = BillingEvent.objects.filter(source_id=f"attempt:{attempt.pk}").count()
    assert billed == 1

    report(
        f"PostgreSQL's answer to the COMMIT of a {kind} lost",
        {
            "answer": f"{status} {body['error']['type']}",
            "database": f"committed whole: invitation pending, attempt {attempt.number} queued, audit row written",
            "jobs in Redis": 0,
            "retry": f"{retry_status} {'same token' if kind == 'create' else retry_body['error']['type']}",
            "sweep inside the grace period": inside,
            "sweep after the grace period": after,
            "delivered": f"{ran} job ran, {len(keys)} message, {billed} billing event",
        },
        lost=lost,
        duplicates=duplicates,
    )


def app_backends() -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s AND datname = current_database()",
            [APPLICATION_NAME],
        )
        return [pid for (pid,) in cursor.fetchall()]


def test_an_idle_connection_terminated_by_postgres_is_replaced_before_the_next_request(web, writes):
    before = app_backends()
    assert before
    with connection.cursor() as cursor:
        for pid in before:
            # Waits (up to 5 s) until the backend has exited.
            cursor.execute("SELECT pg_terminate_backend(%s, 5000)", [pid])
            assert cursor.fetchone() == (True,)
    assert app_backends() == []

    status, body = writes["create"]()

    assert status == 201, body
    after = app_backends()
    assert after and not set(after) & set(before)
    made = Invitation.objects.filter(token=created_with_key("create-1").token).count()
    assert (made, DeliveryAttempt.objects.count(), jobs_in_redis()) == (1, 1, 1)
    report(
        "PostgreSQL terminated the service's idle connection (pg_terminate_backend)",
        {
            "backends": f"{before} terminated (the pool's idle connections), {after} lent after the pool's check",
            "next request": f"{status}, 1 invitation, 1 attempt, 1 job",
        },
        lost=max(0, 1 - made),
        duplicates=max(0, made - 1),
    )


def test_readyz_names_postgresql_while_it_is_unreachable_and_healthz_stays_up(web):
    def probe(path: str) -> tuple[int, dict]:
        client = http.client.HTTPConnection("127.0.0.1", web.port, timeout=30)
        try:
            client.request("GET", path)
            response = client.getresponse()
            return response.status, json.loads(response.read())
        finally:
            client.close()

    assert probe("/readyz") == (200, {"status": "ok", "checks": {"postgresql": "ok", "redis": "ok"}})
    web.proxy.set_down(True)
    try:
        status, body = probe("/readyz")
        assert status == 503
        assert body["checks"]["postgresql"].startswith("unreachable") and body["checks"]["redis"] == "ok"
        assert probe("/healthz") == (200, {"status": "ok"})
    finally:
        web.proxy.set_down(False)
    assert probe("/readyz")[0] == 200
    assert probe("/healthz")[0] == 200
