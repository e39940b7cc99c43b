"""The attack of a tenant with nothing but a sandbox key: the most webhook endpoints it may have, all
pointing at a receiver that answers "200 OK" and then drips a header byte every second, a test event
on each. Against the worker pools exactly as the Procfile starts them, another organization's email
still goes out within 10 s and its webhook arrives within 15 s."""

import time

import pytest
from django.conf import settings

from accounts.services import api_key_create
from bench.fake_providers import FakePostmark
from invitations.models import Invitation
from tests.conftest import TEST_ACTOR, client_for
from tests.factories import OrganizationFactory
from tests.faults.support import Children, procfile_command, service_environment
from webhooks.services import webhook_endpoint_create, webhook_endpoint_test

pytestmark = pytest.mark.django_db(transaction=True)

POOLS = ["delivery", "webhooks", "default", "sweeper"]


@pytest.fixture
def postmark():
    provider = FakePostmark(latency=0.05)
    yield provider
    provider.stop()


@pytest.fixture
def pools(tmp_path, postmark):
    children = Children()
    env = service_environment(
        EMAIL_BACKEND="anymail.backends.postmark.EmailBackend",
        ANYMAIL_POSTMARK_SERVER_TOKEN="pools-server-token",
        ANYMAIL_POSTMARK_API_URL=postmark.url + "/",
        WEBHOOK_ALLOW_PRIVATE_URLS="1",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
        LOG_LEVEL="WARNING",
    )
    for name in POOLS:
        children.start(procfile_command(name), env=env, log=tmp_path / f"{name}.log")
    yield tmp_path
    children.stop_all()


def wait_for(condition, *, timeout: float) -> float | None:
    """Seconds until ``condition()`` held, or None if it did not within ``timeout``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(0.05)
    return None


def test_every_queue_has_a_pool_of_its_own_in_the_procfile():
    for name in ("delivery", "webhooks", "default"):
        assert procfile_command(name)[-2:] == ["runworkers", name]
    assert set(settings.WORKER_POOLS) == {"delivery", "webhooks", "default"}


def test_a_tenant_dripping_every_endpoint_holds_up_neither_anothers_email_nor_its_webhook(
    pools, postmark, slow_receiver, receiver
):
    attacker = OrganizationFactory(slug="attacker")
    drip = slow_receiver(drip=True, every=1.0)
    for _ in range(settings.WEBHOOK_MAX_ENDPOINTS):
        endpoint, _ = webhook_endpoint_create(organization=attacker, livemode=False, url=drip.url())
        webhook_endpoint_test(endpoint=endpoint)
    # The attacker's tries are in flight (and stay there until their deadline).
    assert wait_for(lambda: drip.open >= 2, timeout=30) is not None, (pools / "webhooks.log").read_text()[-3000:]

    victim = OrganizationFactory(slug="victim")
    webhook_endpoint_create(organization=victim, livemode=True, url=receiver.url())
    key = api_key_create(organization=victim, livemode=True, name="victim", actor=TEST_ACTOR)[1]
    created = client_for(key).post(
        "/v1/autodoc/invitations", {"channel": "email", "recipient": "ana@example.com"}, format="json"
    )
    assert created.status_code == 201
    token = created.json()["token"]

    def sent() -> bool:
        return Invitation.objects.filter(token=token, status=Invitation.Status.SENT).exists()

    email_seconds = wait_for(sent, timeout=10)
    assert email_seconds is not None, (pools / "delivery.log").read_text()[-3000:]
    assert sum(postmark.calls.values()) == 1
    webhook_seconds = wait_for(lambda: "invitation.sent" in receiver.types(), timeout=15)
    assert webhook_seconds is not None, (pools / "webhooks.log").read_text()[-3000:]
    assert "invitation.created" in receiver.types()
    # Meanwhile the attacker never had more than its organization's share in flight.
    assert drip.most_open <= max(1, settings.WEBHOOK_DISPATCH_THREADS // 4)
