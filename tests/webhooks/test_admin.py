"""The webhook endpoint's page in the support console: its recent tries with the answers they got
(from a real receiver on 127.0.0.1 through a real worker), Send test and Redeliver."""

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import StaffUserFactory
from webhooks.models import WebhookDelivery

pytestmark = pytest.mark.django_db


@pytest.fixture
def support(db):
    client = Client()
    client.force_login(StaffUserFactory(permissions=("webhooks.view_endpoint", "webhooks.change_endpoint")))
    return client


def test_send_test_goes_now_and_the_page_shows_the_try_with_its_response_code(
    support, endpoint, receiver, run_webhook_worker, django_capture_on_commit_callbacks
):
    endpoint, _secret = endpoint
    receiver.answers = [(503, 0)]
    page_url = reverse("admin:webhooks_endpoint_change", args=[endpoint.pk])
    assert 'id="send-test-button"' in support.get(page_url).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        answer = support.post(reverse("admin:webhooks_endpoint_send-test", args=[endpoint.pk]), follow=True)
    assert "Test event evt_" in answer.content.decode()
    run_webhook_worker()
    assert receiver.types() == ["webhook.test"]
    page = support.get(page_url).content.decode()
    tries = page[page.index("field-recent_tries") :]
    assert "webhook.test" in tries and "503" in tries and " UTC" in tries


def test_redeliver_sends_the_failed_deliveries_again(
    support, endpoint, receiver, run_webhook_worker, django_capture_on_commit_callbacks
):
    endpoint, _secret = endpoint
    with django_capture_on_commit_callbacks(execute=True):
        support.post(reverse("admin:webhooks_endpoint_send-test", args=[endpoint.pk]))
    run_webhook_worker()
    WebhookDelivery.objects.update(status=WebhookDelivery.Status.FAILED)
    with django_capture_on_commit_callbacks(execute=True):
        answer = support.post(reverse("admin:webhooks_endpoint_redeliver", args=[endpoint.pk]), follow=True)
    assert "1 failed deliveries of the last day queued again." in answer.content.decode()
    run_webhook_worker()
    assert receiver.types() == ["webhook.test", "webhook.test"]


def test_a_viewer_cannot_send_a_test(endpoint, receiver):
    endpoint, _secret = endpoint
    viewer = Client()
    viewer.force_login(StaffUserFactory(permissions=("webhooks.view_endpoint",)))
    assert viewer.post(reverse("admin:webhooks_endpoint_send-test", args=[endpoint.pk])).status_code == 403
    assert (
        'id="send-test-button"'
        not in viewer.get(reverse("admin:webhooks_endpoint_change", args=[endpoint.pk])).content.decode()
    )
    assert not WebhookDelivery.objects.exists()
