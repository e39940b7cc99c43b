"""A webhook retry goes at its nextAttemptAt, not at the next sweep: the webhooks pool as the
Procfile starts it, a real receiver on 127.0.0.1 that fails the first try."""

import time

import pytest

from tests.factories import OrganizationFactory
from tests.faults.support import Children, procfile_command, service_environment
from webhooks.models import WebhookDelivery
from webhooks.services import webhook_endpoint_create, webhook_endpoint_test


@pytest.fixture
def webhooks_pool(tmp_path):
    children = Children()
    env = service_environment(WEBHOOK_ALLOW_PRIVATE_URLS="1", PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"))
    children.start(procfile_command("webhooks"), env=env, log=tmp_path / "webhooks.log")
    yield
    children.stop_all()


@pytest.mark.django_db(transaction=True)
def test_a_retry_due_in_5_seconds_goes_within_6_seconds_of_the_failure(webhooks_pool, receiver):
    receiver.answers = [(503, 0)]
    endpoint, _secret = webhook_endpoint_create(organization=OrganizationFactory(), livemode=True, url=receiver.url())
    webhook_endpoint_test(endpoint=endpoint)
    received_at: list[float] = []
    deadline = time.monotonic() + 60
    while len(received_at) < 2 and time.monotonic() < deadline:
        while len(received_at) < len(receiver.received):
            received_at.append(time.monotonic())
        time.sleep(0.02)
    assert len(received_at) == 2, "the retry never came"
    waited = received_at[1] - received_at[0]
    assert 4.5 <= waited <= 6.0, waited
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.tries) == (WebhookDelivery.Status.SUCCEEDED, 2)
