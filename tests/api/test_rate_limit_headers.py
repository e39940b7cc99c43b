"""RateLimit-* headers: from the buckets the throttles count, on every answer of a throttled endpoint."""

from datetime import timedelta

import pytest
import redis
import time_machine
from rest_framework.test import APIClient

from tests.conftest import RedisServer
from tests.factories import InvitationFactory
from tests.helpers import T0

pytestmark = pytest.mark.django_db

UNKNOWN = "/v1/autodoc/invitations/adi_doesnotexist000000000000/resend"


def headers(response) -> tuple:
    return tuple(response.get(name) for name in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"))


def test_creates_count_down_and_the_429_shows_the_bucket_that_refused_it(api, settings):
    settings.CREATE_RATE_PER_ORG = "3/m"
    body = {"channel": "email", "recipient": "ana@example.com"}
    with time_machine.travel(T0 + timedelta(seconds=15), tick=False):
        answers = [api.post("/v1/autodoc/invitations", body, format="json") for _ in range(4)]
    assert [r.status_code for r in answers] == [201, 201, 201, 429]
    assert [headers(r)[:2] for r in answers] == [("3", "2"), ("3", "1"), ("3", "0"), ("3", "0")]
    refused = answers[-1]
    assert refused.json()["error"]["scope"] == "organization"
    # Reset is the whole seconds until the window ends, what Retry-After says on the 429.
    assert headers(refused)[2] == refused["Retry-After"]
    assert 1 <= int(headers(refused)[2]) <= 60
    assert all(r["RateLimit-Policy"] == '3;w=60;name="organization"' for r in answers)


def test_a_resend_shows_the_bucket_closest_to_its_limit_and_names_both(api, settings):
    settings.RESEND_RATE_PER_IP = "5/m"
    settings.RESEND_RATE_PER_ORG = "3/5m"
    with time_machine.travel(T0, tick=False):
        answers = [api.post(UNKNOWN) for _ in range(4)]
        ip_only = [api.post(UNKNOWN) for _ in range(2)]
    assert [r.status_code for r in answers] == [404, 404, 404, 429]
    # The organization bucket (3 per 5 minutes) is nearer its limit than the IP's (5 a minute).
    assert [headers(r)[:2] for r in answers] == [("3", "2"), ("3", "1"), ("3", "0"), ("3", "0")]
    assert answers[-1].json()["error"]["scope"] == "organization"
    assert 1 <= int(headers(answers[-1])[2]) <= 300
    assert headers(answers[-1])[2] == answers[-1]["Retry-After"]
    # Once the IP bucket is full it refuses first, and the headers follow it.
    assert [r.status_code for r in ip_only] == [429, 429]
    assert ip_only[-1].json()["error"]["scope"] == "ip"
    assert headers(ip_only[-1])[:2] == ("5", "0")
    assert answers[0]["RateLimit-Policy"] == '5;w=60;name="ip", 3;w=300;name="organization"'


def test_a_sandbox_key_has_its_own_organization_bucket(api, sandbox_api, settings):
    settings.CREATE_RATE_PER_ORG = "2/m"
    body = {"channel": "email", "recipient": "ana@example.com"}
    with time_machine.travel(T0, tick=False):
        live = [api.post("/v1/autodoc/invitations", body, format="json") for _ in range(2)]
        sandbox = sandbox_api.post("/v1/autodoc/invitations", body, format="json")
    assert headers(live[-1])[:2] == ("2", "0")
    assert headers(sandbox)[:2] == ("2", "1")


def test_endpoints_without_a_throttle_carry_no_rate_limit_headers(api, organization):
    invitation = InvitationFactory(organization=organization)
    response = api.get(f"/v1/autodoc/invitations/{invitation.token}")
    assert response.status_code == 200
    assert headers(response) == (None, None, None) and "RateLimit-Policy" not in response


def test_the_auth_token_endpoint_counts_its_buckets_too(client, settings):
    settings.AUTH_TOKEN_RATE_PER_IP = "2/m"
    with time_machine.travel(T0, tick=False):
        answers = [
            client.post(
                "/v1/auth/token", {"email": "x@example.com", "password": "nope"}, content_type="application/json"
            )
            for _ in range(3)
        ]
    assert [r.status_code == 429 for r in answers] == [False, False, True]
    assert [headers(r)[1] for r in answers] == ["1", "0", "0"]
    assert answers[0]["RateLimit-Policy"].startswith('2;w=60;name="ip"')


@pytest.mark.parametrize("cache", ["redis", "locmem"])
def test_a_request_refused_by_the_ip_bucket_is_not_counted_in_the_organization_bucket(live_key, settings, cache):
    """Redis counts the buckets in one script; any other cache (the embedded default's) one by one."""
    if cache == "locmem":
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    settings.RESEND_RATE_PER_IP = "3/m"
    settings.RESEND_RATE_PER_ORG = "4/m"
    first, second = (
        APIClient(REMOTE_ADDR=ip, HTTP_AUTHORIZATION=f"Bearer {live_key}") for ip in ("10.0.0.1", "10.0.0.2")
    )
    with time_machine.travel(T0, tick=False):
        from_first = [first.post(UNKNOWN).status_code for _ in range(5)]
        from_second = [second.post(UNKNOWN) for _ in range(2)]
    assert from_first == [404, 404, 404, 429, 429]
    # The organization's bucket holds the first address's three counted requests, not its two refused ones.
    assert from_second[0].status_code == 404 and headers(from_second[0])[:2] == ("4", "0")
    assert from_second[1].status_code == 429 and from_second[1].json()["error"]["scope"] == "organization"


def test_a_resends_two_buckets_are_counted_on_the_redis_cache_with_their_windows(api, settings, tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    try:
        settings.CACHES = {
            "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": server.url}
        }
        stored = redis.Redis.from_url(server.url)
        with time_machine.travel(T0, tick=False):
            answers = [api.post(UNKNOWN) for _ in range(3)]
        counters = [key for key in stored.scan_iter() if stored.type(key) == b"string"]
        lifetimes = [stored.ttl(key) for key in counters]
    finally:
        server.stop()
    assert [headers(r)[:2] for r in answers] == [("20", "19"), ("20", "18"), ("20", "17")]
    # django-ratelimit's two counters, the IP's and the organization's, each expiring with its window.
    assert len(counters) == 2
    assert all(0 < lifetime <= 60 + 60 for lifetime in lifetimes), lifetimes
