"""Webhook endpoint writes look their address up in DNS on the request's thread: they are throttled
per organization and mode (a sandbox key that floods them leaves the live bucket untouched), and the
lookup has a short deadline of its own."""

import time

import pytest

pytestmark = pytest.mark.django_db


def test_webhook_endpoint_writes_are_throttled_per_organization_and_mode(api, sandbox_api, settings, receiver):
    settings.WEBHOOK_ENDPOINT_WRITE_RATE_PER_ORG = "2/m"
    made = [sandbox_api.post("/v1/webhooks/endpoints", {"url": receiver.url()}, format="json") for _ in range(3)]
    assert [answer.status_code for answer in made] == [201, 201, 429]
    assert api.post("/v1/webhooks/endpoints", {"url": receiver.url()}, format="json").status_code == 201


def test_an_endpoint_whose_host_does_not_resolve_in_time_is_refused_within_the_save_deadline(api, monkeypatch):
    # The resolver is what leaves the machine: one that hangs stands in for a slow DNS server.
    monkeypatch.setattr("webhooks.guard.socket.getaddrinfo", lambda *args, **kwargs: time.sleep(30))
    started = time.monotonic()
    response = api.post("/v1/webhooks/endpoints", {"url": "https://slow-dns.example.com/hooks"}, format="json")
    assert time.monotonic() - started < 4
    assert response.status_code == 422, response.json()
    assert "could not be looked up within 3 s" in response.json()["error"]["fields"]["url"][0]
