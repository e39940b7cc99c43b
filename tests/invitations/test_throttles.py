"""The request throttles of API.md, counted on the real Redis: per IP and per organization on the
resend endpoint, a separate organization bucket for creation, fail-open when the cache is down."""

import logging
import threading
from datetime import timedelta
from types import SimpleNamespace

import pytest
import time_machine
from django.db import connection
from django.test import override_settings

from accounts.services import api_key_create
from api.throttling import client_ip
from delivery.models import DeliveryAttempt
from invitations.models import Invitation
from tests import helpers
from tests.conftest import TEST_ACTOR, client_for
from tests.factories import InvitationFactory, OrganizationFactory
from tests.helpers import T0

UNKNOWN_TOKEN = "adi_doesnotexist000000000000"


def sent_invitations(organization, count, **kwargs):
    return [
        InvitationFactory(
            organization=organization, created_at=T0 - timedelta(hours=1), sent_at=T0 - timedelta(minutes=10), **kwargs
        )
        for _ in range(count)
    ]


def resend(api, token, ip="198.51.100.1", **extra):
    return helpers.resend(api, token, REMOTE_ADDR=ip, **extra)


def create(api, n=0):
    return api.post("/v1/autodoc/invitations", {"channel": "email", "recipient": f"p{n}@example.com"}, format="json")


def assert_rate_limited(response, scope):
    assert response.status_code == 429, response.content
    error = response.json()["error"]
    assert (error["type"], error["scope"]) == ("rate_limited", scope)
    assert 1 <= error["retry_after"] <= 60
    assert response["Retry-After"] == str(error["retry_after"])
    return error["retry_after"]


# --- Per IP ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_31st_resend_request_in_a_minute_from_one_ip_is_refused_with_scope_ip(organization, api):
    # Two organizations behind one address: the IP bucket counts the address, whoever the caller.
    other_api = client_for(api_key_create(organization=OrganizationFactory(), livemode=True, actor=TEST_ACTOR)[1])
    with time_machine.travel(T0, tick=False):
        answers = [resend(api if n % 2 else other_api, UNKNOWN_TOKEN).status_code for n in range(30)]
        assert answers == [404] * 30
        assert_rate_limited(resend(api, UNKNOWN_TOKEN), "ip")
        # Another address is a bucket of its own.
        assert resend(api, UNKNOWN_TOKEN, ip="198.51.100.2").status_code == 404


@pytest.mark.django_db
def test_a_request_refused_by_the_ip_bucket_does_not_use_the_organizations_bucket(organization, api):
    invitations = sent_invitations(organization, 2)
    with override_settings(RESEND_RATE_PER_IP="1/m"), time_machine.travel(T0, tick=False):
        assert resend(api, invitations[0].token).status_code == 200
        for _ in range(25):
            assert_rate_limited(resend(api, invitations[1].token), "ip")
        # 26 requests, but only one reached the organization's bucket: another address passes.
        assert resend(api, invitations[1].token, ip="198.51.100.9").status_code == 200


@pytest.mark.django_db
@override_settings(RESEND_RATE_PER_ORG="1000/m")
def test_a_forged_x_forwarded_for_buys_nothing_without_trusted_proxies(organization, api):
    with time_machine.travel(T0, tick=False):
        for n in range(30):
            assert resend(api, UNKNOWN_TOKEN, HTTP_X_FORWARDED_FOR=f"203.0.113.{n}").status_code == 404
        assert_rate_limited(resend(api, UNKNOWN_TOKEN, HTTP_X_FORWARDED_FOR="203.0.113.200"), "ip")


@pytest.mark.django_db
@override_settings(TRUSTED_PROXIES=["10.0.0.0/8"], RESEND_RATE_PER_ORG="1000/m")
def test_behind_a_trusted_proxy_the_client_is_the_address_the_proxy_saw(organization, api):
    with time_machine.travel(T0, tick=False):
        for n in range(30):
            # The client wrote a different left part each time; the proxy appended the real address.
            forwarded = f"192.0.2.{n}, 203.0.113.7"
            assert resend(api, UNKNOWN_TOKEN, ip="10.1.2.3", HTTP_X_FORWARDED_FOR=forwarded).status_code == 404
        assert_rate_limited(resend(api, UNKNOWN_TOKEN, ip="10.1.2.3", HTTP_X_FORWARDED_FOR="203.0.113.7"), "ip")
        # Another client behind the same proxy still has its own bucket.
        assert resend(api, UNKNOWN_TOKEN, ip="10.1.2.3", HTTP_X_FORWARDED_FOR="203.0.113.8").status_code == 404


def _request(remote_addr, forwarded=None):
    meta = {"REMOTE_ADDR": remote_addr}
    if forwarded is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    return SimpleNamespace(META=meta)


@pytest.mark.parametrize(
    "trusted, remote, forwarded, expected",
    [
        ([], "203.0.113.5", "1.2.3.4", "203.0.113.5"),
        (["10.0.0.1"], "203.0.113.5", "1.2.3.4", "203.0.113.5"),  # not from a proxy: header ignored
        (["10.0.0.1"], "10.0.0.1", "1.2.3.4", "1.2.3.4"),
        (["10.0.0.1"], "10.0.0.1", "6.6.6.6, 1.2.3.4", "1.2.3.4"),  # the forged left part is never reached
        (["10.0.0.0/8"], "10.0.0.1", "1.2.3.4, 10.0.0.2", "1.2.3.4"),  # two proxies deep
        (["10.0.0.1"], "10.0.0.1", "", "10.0.0.1"),
        # A hop that is no address is the client as written, never the proxy's own address.
        (["10.0.0.1"], "10.0.0.1", "garbage", "unparsable:garbage"),
        (["10.0.0.1"], "10.0.0.1", "1.2.3.4, garbage", "unparsable:garbage"),
        (["10.0.0.0/8"], "10.0.0.1", "1.2.3.4, unknown, 10.0.0.2", "unparsable:unknown"),
        (["10.0.0.1"], "10.0.0.1", "6.6.6.6, 1.2.3.4\x1b[31m", "unparsable:1.2.3.4[31m"),
        ([], "2001:db8:1:2:3:4:5:6", None, "2001:db8:1:2::"),  # one IPv6 client holds its /64
    ],
)
def test_the_client_ip_is_remote_addr_unless_a_trusted_proxy_forwarded_it(
    settings, trusted, remote, forwarded, expected
):
    settings.TRUSTED_PROXIES = trusted
    assert client_ip(_request(remote, forwarded)) == expected


# --- Per organization ----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_of_50_concurrent_resends_for_one_organization_from_many_ips_exactly_20_get_through(organization, live_key):
    invitations = sent_invitations(organization, 50)
    barrier = threading.Barrier(50)
    responses = [None] * 50

    def call(index):
        try:
            api = client_for(live_key)
            barrier.wait(timeout=30)
            responses[index] = resend(api, invitations[index].token, ip=f"203.0.113.{index + 1}")
        finally:
            connection.close()

    with time_machine.travel(T0, tick=False):
        threads = [threading.Thread(target=call, args=(i,)) for i in range(50)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] * 20 + [429] * 30
    for response in responses:
        if response.status_code == 429:
            assert_rate_limited(response, "organization")
    assert Invitation.objects.filter(status=Invitation.Status.PENDING, delivery_attempts=2).count() == 20
    assert Invitation.objects.filter(status=Invitation.Status.SENT, delivery_attempts=1).count() == 30
    assert DeliveryAttempt.objects.count() == 20


@pytest.mark.django_db
def test_the_21st_resend_in_a_minute_is_refused_before_the_invitation_is_looked_up(organization, api):
    invitations = sent_invitations(organization, 20)
    with time_machine.travel(T0, tick=False):
        for n, invitation in enumerate(invitations):
            assert resend(api, invitation.token, ip=f"203.0.113.{n}").status_code == 200
        assert_rate_limited(resend(api, UNKNOWN_TOKEN, ip="203.0.113.99"), "organization")
        # Another organization has its own bucket.
        other = OrganizationFactory()
        other_api = client_for(api_key_create(organization=other, livemode=True, actor=TEST_ACTOR)[1])
        assert resend(other_api, sent_invitations(other, 1)[0].token, ip="203.0.113.99").status_code == 200


@pytest.mark.django_db
def test_a_correction_draws_on_the_resend_buckets_before_the_invitation_is_looked_up(organization, api):
    invitations = sent_invitations(organization, 20)
    with time_machine.travel(T0, tick=False):
        for n, invitation in enumerate(invitations[:10]):
            assert resend(api, invitation.token, ip=f"203.0.113.{n}").status_code == 200
        for n, invitation in enumerate(invitations[10:]):
            corrected = api.patch(
                f"/v1/autodoc/invitations/{invitation.token}",
                {"recipient": f"fixed{n}@example.com"},
                format="json",
                REMOTE_ADDR=f"203.0.113.{50 + n}",
            )
            assert corrected.status_code == 200, corrected.json()
        refused = api.patch(f"/v1/autodoc/invitations/{UNKNOWN_TOKEN}", {"recipient": "x@example.com"}, format="json")
        assert_rate_limited(refused, "organization")
        # Reads are not throttled.
        assert api.get(f"/v1/autodoc/invitations/{invitations[0].token}").status_code == 200


@pytest.mark.django_db
def test_missing_credentials_answer_401_even_when_the_buckets_are_full(organization, api, client):
    invitations = sent_invitations(organization, 21)
    with time_machine.travel(T0, tick=False):
        for invitation in invitations[:20]:
            resend(api, invitation.token)
        assert_rate_limited(resend(api, invitations[20].token), "organization")
        response = client.post(f"/v1/autodoc/invitations/{invitations[20].token}/resend", REMOTE_ADDR="198.51.100.1")
    assert response.status_code == 401


@pytest.mark.django_db
def test_creating_50_invitations_leaves_the_resend_bucket_untouched(organization, api):
    invitations = sent_invitations(organization, 21)
    with time_machine.travel(T0, tick=False):
        for n in range(50):
            assert create(api, n).status_code == 201
        for n, invitation in enumerate(invitations[:20]):
            assert resend(api, invitation.token, ip=f"203.0.113.{n}").status_code == 200
        assert_rate_limited(resend(api, invitations[20].token, ip="203.0.113.50"), "organization")


@pytest.mark.django_db
def test_creation_has_its_own_organization_bucket_at_100_a_minute(organization, api):
    invitation = sent_invitations(organization, 1)[0]
    with time_machine.travel(T0, tick=False):
        for n in range(100):
            assert create(api, n).status_code == 201
        assert_rate_limited(create(api, 100), "organization")
        assert Invitation.objects.filter(organization=organization).count() == 101
        # Resends are a bucket apart.
        assert resend(api, invitation.token).status_code == 200


@pytest.mark.django_db
def test_the_rates_are_settings(organization, api, settings):
    settings.CREATE_RATE_PER_ORG = "2/m"
    settings.RESEND_RATE_PER_ORG = "1/m"
    invitations = sent_invitations(organization, 2)
    with time_machine.travel(T0, tick=False):
        assert [create(api, n).status_code for n in range(3)] == [201, 201, 429]
        assert resend(api, invitations[0].token).status_code == 200
        assert_rate_limited(resend(api, invitations[1].token, ip="203.0.113.4"), "organization")


@pytest.mark.django_db
def test_a_viewers_refused_requests_do_not_use_the_buckets(organization, api, make_member):
    from tests.conftest import token_pair_for

    invitations = sent_invitations(organization, 20)
    with time_machine.travel(T0, tick=False):
        viewer = client_for(token_pair_for(make_member("viewer"), organization)["accessToken"])
        for _ in range(35):
            assert resend(viewer, invitations[0].token).status_code == 403
        # Had they counted, the IP bucket (30) and the organization's (20) would both be spent.
        for invitation in invitations:
            assert resend(api, invitation.token).status_code == 200


# --- Windows -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_after_the_window_the_organization_bucket_lets_resends_through_again(organization, api):
    invitations = sent_invitations(organization, 42)
    with time_machine.travel(T0, tick=False):
        for n in range(20):
            assert resend(api, invitations[n].token, ip=f"203.0.113.{n}").status_code == 200
        retry_after = assert_rate_limited(resend(api, invitations[20].token, ip="203.0.113.20"), "organization")
    with time_machine.travel(T0 + timedelta(seconds=retry_after - 1), tick=False):
        assert_rate_limited(resend(api, invitations[20].token, ip="203.0.113.21"), "organization")
    with time_machine.travel(T0 + timedelta(seconds=retry_after), tick=False):
        for n in range(20, 40):
            assert resend(api, invitations[n].token, ip=f"203.0.113.{n}").status_code == 200
        assert_rate_limited(resend(api, invitations[40].token, ip="203.0.113.40"), "organization")


@pytest.mark.django_db
def test_after_the_window_the_ip_bucket_lets_requests_through_again(organization, api, settings):
    settings.RESEND_RATE_PER_ORG = "1000/m"
    with time_machine.travel(T0, tick=False):
        for _ in range(30):
            resend(api, UNKNOWN_TOKEN)
        retry_after = assert_rate_limited(resend(api, UNKNOWN_TOKEN), "ip")
    with time_machine.travel(T0 + timedelta(seconds=retry_after - 1), tick=False):
        assert_rate_limited(resend(api, UNKNOWN_TOKEN), "ip")
    with time_machine.travel(T0 + timedelta(seconds=retry_after), tick=False):
        assert [resend(api, UNKNOWN_TOKEN).status_code for _ in range(30)] == [404] * 30
        assert_rate_limited(resend(api, UNKNOWN_TOKEN), "ip")


# --- Redis down ----------------------------------------------------------------------------------

UNREACHABLE_CACHE = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
}


@pytest.mark.django_db
def test_when_the_cache_is_unreachable_the_throttles_fail_open_and_log_while_the_invitation_limits_hold(
    organization, api, caplog
):
    invitations = sent_invitations(organization, 3)
    capped = sent_invitations(organization, 1, delivery_attempts=10)[0]
    with override_settings(CACHES=UNREACHABLE_CACHE, RESEND_RATE_PER_ORG="1/m", RESEND_RATE_PER_IP="1/m"):
        with time_machine.travel(T0, tick=False), caplog.at_level(logging.WARNING, "api.throttling"):
            # Over both rates, yet let through: the counters cannot be reached.
            assert [resend(api, invitation.token).status_code for invitation in invitations] == [200, 200, 200]
            assert create(api).status_code == 201
            # The per-invitation rules live in PostgreSQL and still refuse: the provider accepted
            # the first resend a moment ago, so it is in its cooldown; the capped one stays capped.
            Invitation.objects.filter(pk=invitations[0].pk).update(status=Invitation.Status.SENT, sent_at=T0)
            cooldown = resend(api, invitations[0].token)
            cap = resend(api, capped.token)
    assert cooldown.status_code == 429
    assert cooldown.json()["error"]["type"] == "cooldown_active"
    assert cap.json()["error"]["type"] == "max_attempts_reached"
    messages = [record.getMessage() for record in caplog.records]
    assert any("resend:ip" in m and "cache is unreachable" in m for m in messages)
    assert any("resend:organization" in m and "cache is unreachable" in m for m in messages)
    assert any("create:organization" in m for m in messages)
