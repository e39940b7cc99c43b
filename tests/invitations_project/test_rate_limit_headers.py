"""RateLimit-* headers: from the buckets the throttles count, on every answer of a throttled endpoint."""

from datetime import timedelta

import pytest
import time_machine

from tests.conftest import T0
from tests.factories import InvitationFactory

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
