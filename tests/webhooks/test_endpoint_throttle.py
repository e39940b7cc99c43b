"""Webhook endpoint writes (each looks its address up in DNS) are throttled per organization and
mode: a sandbox key that floods them leaves the live key's bucket untouched."""

import pytest

pytestmark = pytest.mark.django_db


def test_webhook_endpoint_writes_are_throttled_per_organization_and_mode(api, sandbox_api, settings, receiver):
    settings.WEBHOOK_ENDPOINT_WRITE_RATE_PER_ORG = "2/m"
    made = [sandbox_api.post("/v1/webhooks/endpoints", {"url": receiver.url()}, format="json") for _ in range(3)]
    assert [answer.status_code for answer in made] == [201, 201, 429]
    assert api.post("/v1/webhooks/endpoints", {"url": receiver.url()}, format="json").status_code == 201
