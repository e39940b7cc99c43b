"""One tenant cannot hold up another through its webhooks: every try has one deadline however the
receiver drips, a claim outlives the try it was made for, tries in flight are counted exactly per
endpoint and per organization and mode across dispatchers, endpoints are capped per organization and mode,
and the calls that send at once (test, recover, redeliver) are throttled."""

import threading
import time

import pytest
from django.utils import timezone

from accounts.services import api_key_create
from tests.conftest import TEST_ACTOR, at_once, client_for
from tests.factories import OrganizationFactory
from webhooks import guard
from webhooks.dispatch import webhook_deliveries_dispatch
from webhooks.models import Endpoint, WebhookDelivery, WebhookTry
from webhooks.services import webhook_endpoint_create, webhook_endpoint_test
from webhooks.slots import claim_stale_after


def dispatch_on_threads(count: int, **options) -> list[int]:
    """``count`` dispatchers at once, each on a thread with its own database connection."""
    return at_once(count, lambda: webhook_deliveries_dispatch(**options), timeout=120)


@pytest.mark.django_db
def test_a_receiver_that_drips_one_byte_at_a_time_is_cut_at_the_deadline(organization, slow_receiver, settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 2
    drip = slow_receiver(drip=True, every=0.3)  # each read returns well within any per-read timeout
    started = time.monotonic()
    answer = guard.post(drip.url(), body=b"{}", headers={"Content-Type": "application/json"})
    took = time.monotonic() - started
    assert answer.status is None and not answer.succeeded
    assert "timed out" in answer.error and "within 2 s" in answer.error
    assert 1.9 <= took < 3.0, took


@pytest.mark.django_db
def test_the_deadline_covers_a_receiver_that_never_answers_at_all(slow_receiver, settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    silent = slow_receiver(drip=False, hold=30)
    started = time.monotonic()
    answer = guard.post(silent.url(), body=b"{}", headers={})
    assert "timed out" in answer.error
    assert time.monotonic() - started < 2


def test_a_claim_outlives_the_longest_try():
    from django.conf import settings

    assert claim_stale_after().total_seconds() > settings.WEBHOOK_TIMEOUT_SECONDS


@pytest.mark.django_db(transaction=True)
def test_a_try_held_by_a_dripping_receiver_is_never_claimed_a_second_time(organization, slow_receiver, settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 3
    drip = slow_receiver(drip=True, every=0.5)
    endpoint, _ = webhook_endpoint_create(organization=organization, livemode=True, url=drip.url())
    webhook_endpoint_test(endpoint=endpoint)
    # Four dispatchers, started over the whole length of the try: only one ever sends it.
    made = []
    first = threading.Thread(target=lambda: made.extend(dispatch_on_threads(1)))
    first.start()
    for _ in range(3):
        time.sleep(0.8)
        made.extend(dispatch_on_threads(1))
    first.join(timeout=30)
    assert sorted(made) == [0, 0, 0, 1]
    assert drip.connections == 1
    attempt = WebhookTry.objects.get()
    assert attempt.status == WebhookDelivery.Status.RETRYING and "timed out" in attempt.error


@pytest.mark.django_db(transaction=True)
def test_tries_in_flight_per_endpoint_are_counted_exactly_across_dispatchers(organization, slow_receiver, settings):
    settings.WEBHOOK_ENDPOINT_CONCURRENCY = 2
    settings.WEBHOOK_ORG_CONCURRENCY = 16
    slow = slow_receiver(drip=False, hold=0.5)
    endpoint, _ = webhook_endpoint_create(organization=organization, livemode=True, url=slow.url())
    for _ in range(10):
        webhook_endpoint_test(endpoint=endpoint)
    made = dispatch_on_threads(4)
    assert sum(made) == 10
    assert slow.connections == 10
    assert slow.most_open == 2  # never more, and the limit was used
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {WebhookDelivery.Status.SUCCEEDED}


def hang_endpoints(organization, url: str, *, livemode: bool, count: int = 8) -> None:
    """``count`` endpoints at ``url`` (a receiver that drips), each with a test event to send."""
    for _ in range(count):
        endpoint, _ = webhook_endpoint_create(organization=organization, livemode=livemode, url=url)
        webhook_endpoint_test(endpoint=endpoint)


def dispatch_until_received(receiver) -> float:
    """Two dispatchers for up to 3 s; the seconds until ``receiver`` got its first delivery."""
    started = time.monotonic()
    dispatcher = threading.Thread(target=lambda: dispatch_on_threads(2, max_seconds=3))
    dispatcher.start()
    while not receiver.received and time.monotonic() - started < 10:
        time.sleep(0.05)
    took = time.monotonic() - started
    dispatcher.join(timeout=60)
    return took


@pytest.mark.django_db(transaction=True)
def test_one_organization_never_has_more_than_its_share_in_flight_and_another_goes_through(
    organization, slow_receiver, receiver, settings
):
    settings.WEBHOOK_ORG_CONCURRENCY = 3
    settings.WEBHOOK_TIMEOUT_SECONDS = 2
    drip = slow_receiver(drip=True, every=0.5)
    hang_endpoints(organization, drip.url(), livemode=False)
    other_endpoint, _ = webhook_endpoint_create(organization=OrganizationFactory(), livemode=True, url=receiver.url())
    webhook_endpoint_test(endpoint=other_endpoint)
    assert dispatch_until_received(receiver) < 1.5, "the other organization's event waited behind the first one's"
    assert drip.most_open == 3  # 8 endpoints of 2 slots each, but 3 for the organization


@pytest.mark.django_db(transaction=True)
def test_a_sandbox_saturated_by_hanging_endpoints_leaves_the_same_organizations_live_share_free(
    organization, slow_receiver, receiver, settings
):
    settings.WEBHOOK_ORG_CONCURRENCY = 3
    settings.WEBHOOK_TIMEOUT_SECONDS = 2
    drip = slow_receiver(drip=True, every=0.5)
    hang_endpoints(organization, drip.url(), livemode=False)
    live_endpoint, _ = webhook_endpoint_create(organization=organization, livemode=True, url=receiver.url())
    webhook_endpoint_test(endpoint=live_endpoint)
    assert dispatch_until_received(receiver) < 1.5, "the live event waited behind the organization's sandbox"
    assert drip.most_open == 3  # the sandbox had its whole share, and the live mode its own


@pytest.mark.django_db
def test_the_seventeenth_endpoint_of_a_mode_is_refused_and_the_other_mode_counts_apart(
    api, sandbox_api, receiver, settings
):
    assert settings.WEBHOOK_MAX_ENDPOINTS == 16
    for _ in range(16):
        assert api.post("/v1/webhooks/endpoints", {"url": receiver.url()}, format="json").status_code == 201
    refused = api.post("/v1/webhooks/endpoints", {"url": receiver.url()}, format="json")
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["type"] == "validation_error" and "at most 16" in error["message"]
    assert Endpoint.objects.filter(livemode=True).count() == 16
    assert sandbox_api.post("/v1/webhooks/endpoints", {"url": receiver.url()}, format="json").status_code == 201


@pytest.mark.django_db(transaction=True)
def test_endpoints_made_at_once_never_pass_the_cap(organization, receiver, settings):
    settings.WEBHOOK_MAX_ENDPOINTS = 3
    key = api_key_create(organization=organization, livemode=True, name="race", actor=TEST_ACTOR)[1]

    def create() -> int:
        return client_for(key).post("/v1/webhooks/endpoints", {"url": receiver.url()}, format="json").status_code

    statuses = at_once(6, create, timeout=60)
    assert sorted(statuses) == [201, 201, 201, 422, 422, 422]
    assert Endpoint.objects.count() == 3


@pytest.mark.django_db
@pytest.mark.parametrize("call", ["test", "recover", "redeliver"])
def test_test_recover_and_redeliver_share_one_throttled_bucket_per_organization_and_mode(
    api, sandbox_api, organization, endpoint, settings, call
):
    settings.WEBHOOK_ACTION_RATE_PER_ORG = "3/m"
    endpoint, _ = endpoint
    event = webhook_endpoint_test(endpoint=endpoint)
    paths = {
        "test": (f"/v1/webhooks/endpoints/{endpoint.public_id}/test", None),
        "recover": (f"/v1/webhooks/endpoints/{endpoint.public_id}/recover", {"since": timezone.now().isoformat()}),
        "redeliver": (f"/v1/events/{event.public_id}/redeliver", {}),
    }
    # Two other kinds first: they count in the same bucket.
    for other in [name for name in paths if name != call][:2]:
        path, body = paths[other]
        assert api.post(path, body, format="json").status_code == 202
    path, body = paths[call]
    allowed = api.post(path, body, format="json")
    assert allowed.status_code == 202
    assert allowed["RateLimit-Policy"] == '3;w=60;name="organization"' and allowed["RateLimit-Remaining"] == "0"
    refused = api.post(path, body, format="json")
    assert refused.status_code == 429
    assert refused.json()["error"]["type"] == "rate_limited" and refused.json()["error"]["scope"] == "organization"
    assert int(refused["Retry-After"]) >= 1 and refused["RateLimit-Remaining"] == "0"
    # The sandbox key has its own bucket (and sees none of the live endpoints).
    sandbox_endpoint = sandbox_api.post("/v1/webhooks/endpoints", {"url": endpoint.url}, format="json").json()
    assert sandbox_api.post(f"/v1/webhooks/endpoints/{sandbox_endpoint['id']}/test").status_code == 202


@pytest.mark.parametrize(
    "address",
    [
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b::808:808",  # NAT64 of a public address: still through a translator
        "64:ff9b:1::a00:1",  # local-use NAT64
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "2002:808:808::1",  # 6to4 of a public address
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
        "::127.0.0.1",  # IPv4-compatible
        "::8.8.8.8",
        "::ffff:0:127.0.0.1",  # SIIT
        "::ffff:0:8.8.8.8",
        "fec0::1",  # site-local
        "192.88.99.1",  # 6to4 relay anycast
        "::ffff:10.0.0.1",  # IPv4-mapped private
    ],
)
def test_the_guard_refuses_addresses_that_embed_ipv4_or_are_reserved(address):
    import ipaddress

    assert not guard.is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_the_guard_still_allows_public_addresses(address):
    import ipaddress

    assert guard.is_public(ipaddress.ip_address(address))
