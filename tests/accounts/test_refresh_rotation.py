"""Refresh tokens rotate on use, and a used one presented again revokes its whole family; logins are
also limited per account, whatever IP they come from."""

import threading
from datetime import timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.db import connections
from rest_framework.test import APIClient

from accounts.models import RefreshToken
from accounts.services import refresh_tokens_delete_expired
from tests.conftest import MEMBER_PASSWORD, client_for, token_pair_for
from tests.helpers import T0

pytestmark = pytest.mark.django_db


def refresh(token: str):
    return APIClient().post("/v1/auth/token/refresh", {"refreshToken": token}, format="json")


def test_a_refresh_token_works_once_and_its_successor_works_next(make_member, organization):
    pair = token_pair_for(make_member("agent"), organization)
    second = refresh(pair["refreshToken"])
    assert second.status_code == 200
    assert second.json()["refreshToken"] != pair["refreshToken"]
    third = refresh(second.json()["refreshToken"])
    assert third.status_code == 200
    assert client_for(third.json()["accessToken"]).get("/v1/autodoc/invitations").status_code == 200


def test_reusing_a_used_refresh_token_is_refused_and_revokes_its_family(make_member, organization):
    pair = token_pair_for(make_member("agent"), organization)
    successor = refresh(pair["refreshToken"]).json()["refreshToken"]

    reused = refresh(pair["refreshToken"])
    assert reused.status_code == 401
    assert reused.json()["error"]["type"] == "authentication_failed"
    assert "already used" in reused.json()["error"]["message"]
    # The thief's copy and the user's newer token are both dead now: one of them is not the user.
    assert refresh(successor).status_code == 401
    assert set(RefreshToken.objects.values_list("revoked_at", flat=True)) != {None}
    assert not RefreshToken.objects.filter(revoked_at__isnull=True).exists()


def test_a_revoked_family_leaves_other_logins_of_the_same_user_alone(make_member, organization):
    user = make_member("agent")
    stolen = token_pair_for(user, organization)
    other_device = token_pair_for(user, organization)
    refresh(stolen["refreshToken"])
    assert refresh(stolen["refreshToken"]).status_code == 401
    assert refresh(other_device["refreshToken"]).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_two_racing_refreshes_with_one_token_give_exactly_one_pair(make_member, organization):
    pair = token_pair_for(make_member("agent"), organization)
    barrier = threading.Barrier(4)
    statuses: list[int] = []

    def attempt() -> None:
        try:
            barrier.wait()
            statuses.append(refresh(pair["refreshToken"]).status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 401, 401, 401]


def test_expired_refresh_tokens_are_forgotten(make_member, organization, settings):
    with time_machine.travel(T0, tick=False):
        token_pair_for(make_member("agent"), organization)
    assert refresh_tokens_delete_expired(now=T0 + timedelta(seconds=settings.JWT_REFRESH_TTL_SECONDS - 1)) == 0
    assert refresh_tokens_delete_expired(now=T0 + timedelta(seconds=settings.JWT_REFRESH_TTL_SECONDS + 1)) == 1


def test_logins_for_one_account_from_many_ips_are_limited_too(make_member, organization, settings):
    settings.AUTH_TOKEN_RATE_PER_ACCOUNT = "5/15m"
    cache.clear()
    user = make_member("agent")

    def login(password: str, ip: str):
        return APIClient().post(
            "/v1/auth/token",
            {"email": user.email.upper(), "password": password, "organization": organization.slug},
            format="json",
            REMOTE_ADDR=ip,
        )

    with time_machine.travel(T0, tick=False):
        assert [login("guess", f"203.0.113.{n}").status_code for n in range(1, 6)] == [401] * 5
        refused = login(MEMBER_PASSWORD, "203.0.113.77")
        assert refused.status_code == 429
        assert refused.json()["error"]["scope"] == "account"
        # Another account from the same addresses is not held back.
        other = make_member("agent")
        assert token_pair_for(other, organization)["accessToken"]
    with time_machine.travel(T0 + timedelta(minutes=16), tick=False):
        assert login(MEMBER_PASSWORD, "203.0.113.78").status_code == 200


def test_a_revoked_family_refuses_its_access_tokens_at_once(make_member, organization):
    pair = token_pair_for(make_member("agent"), organization)
    successor = refresh(pair["refreshToken"]).json()
    for access in (pair["accessToken"], successor["accessToken"]):
        assert client_for(access).get("/v1/autodoc/invitations").status_code == 200
    assert refresh(pair["refreshToken"]).status_code == 401  # reused: the family is revoked
    for access in (pair["accessToken"], successor["accessToken"]):
        refused = client_for(access).get("/v1/autodoc/invitations")
        assert refused.status_code == 401
        assert "revoked" in refused.json()["error"]["message"]


def test_an_access_token_without_a_family_is_refused(make_member, organization):
    import jwt

    from accounts import tokens

    pair = token_pair_for(make_member("agent"), organization)
    claims = jwt.decode(pair["accessToken"], options={"verify_signature": False})
    del claims["fam"]
    forged = jwt.encode(claims, tokens._signing_key(), algorithm=tokens.ALGORITHM)
    assert client_for(forged).get("/v1/autodoc/invitations").status_code == 401


@pytest.mark.parametrize("spelling", ["viewer@acme.teſt", "VIEWER@acme.test", "viewer@ACME.TEſT"])
def test_another_spelling_of_the_email_shares_the_accounts_login_bucket(make_member, organization, settings, spelling):
    settings.AUTH_TOKEN_RATE_PER_ACCOUNT = "3/15m"
    cache.clear()
    user = make_member("viewer", email="viewer@acme.test")

    def login(email: str, ip: str):
        return APIClient().post(
            "/v1/auth/token",
            {"email": email, "password": "guess", "organization": organization.slug},
            format="json",
            REMOTE_ADDR=ip,
        )

    with time_machine.travel(T0, tick=False):
        assert [login(user.email, f"203.0.113.{n}").status_code for n in range(1, 4)] == [401] * 3
        refused = login(spelling, "198.51.100.9")
        assert refused.status_code == 429 and refused.json()["error"]["scope"] == "account"
