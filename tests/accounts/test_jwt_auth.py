"""JwtAuth: dashboard users log in to one organization and act in live mode with their role."""

import base64
import json
from datetime import timedelta

import jwt
import pytest
import time_machine
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import tokens
from accounts.models import Membership
from invitations.models import Invitation, InvitationEvent
from tests.conftest import MEMBER_PASSWORD, client_for, token_pair_for
from tests.factories import InvitationFactory, OrganizationFactory
from tests.helpers import T0

pytestmark = pytest.mark.django_db


def login(email, organization_slug, password=MEMBER_PASSWORD):
    return APIClient().post(
        "/v1/auth/token", {"email": email, "password": password, "organization": organization_slug}, format="json"
    )


def refresh(refresh_token):
    return APIClient().post("/v1/auth/token/refresh", {"refreshToken": refresh_token}, format="json")


def sent_invitation(organization, **kwargs):
    """Sent an hour ago: past the cooldown, eligible for a resend now."""
    return InvitationFactory(organization=organization, **kwargs)


def assert_401(response, phrase=None):
    assert response.status_code == 401, response.content
    error = response.json()["error"]
    assert error["type"] == "authentication_failed"
    if phrase:
        assert phrase in error["message"]


def claims_of(token):
    return jwt.decode(token, options={"verify_signature": False})


# --- Issue -----------------------------------------------------------------------------------------


def test_a_member_gets_an_access_and_a_refresh_token_naming_the_organization_and_role(make_member, organization):
    user = make_member("admin")
    with time_machine.travel(T0, tick=False):
        response = login(user.email.upper(), organization.slug)
    assert response.status_code == 200
    body = response.json()
    assert body["tokenType"] == "Bearer"
    assert (body["organization"], body["role"], body["livemode"]) == (organization.slug, "admin", True)
    assert body["expiresIn"] == settings.JWT_ACCESS_TTL_SECONDS == 900
    access, refresh_claims = claims_of(body["accessToken"]), claims_of(body["refreshToken"])
    assert (access["sub"], access["org"], access["role"], access["typ"]) == (
        str(user.pk),
        organization.slug,
        "admin",
        "access",
    )
    assert access["exp"] - access["iat"] == 900
    assert access["iat"] == int(T0.timestamp())
    assert refresh_claims["typ"] == "refresh"
    assert refresh_claims["exp"] - refresh_claims["iat"] == settings.JWT_REFRESH_TTL_SECONDS
    assert jwt.get_unverified_header(body["accessToken"])["alg"] == "HS256"
    user.refresh_from_db()
    assert user.last_login is not None


@pytest.mark.parametrize(
    "case",
    ["wrong password", "unknown email", "unknown organization", "not a member", "inactive user"],
)
def test_login_is_refused_with_one_message_whatever_was_wrong(make_member, organization, case):
    other = OrganizationFactory()
    user = make_member("agent", is_active=case != "inactive user")
    email, slug, password = user.email, organization.slug, MEMBER_PASSWORD
    if case == "wrong password":
        password = "not the password"
    elif case == "unknown email":
        email = "nobody@example.com"
    elif case == "unknown organization":
        slug = "no-such-org"
    elif case == "not a member":
        slug = other.slug
    response = login(email, slug, password)
    assert_401(response, "Invalid email, password or organization.")
    assert "accessToken" not in response.json()


def test_login_with_a_missing_field_is_a_validation_error_and_a_wrong_type_is_malformed(organization):
    missing = APIClient().post("/v1/auth/token", {"email": "a@example.com"}, format="json")
    assert missing.status_code == 422
    assert set(missing.json()["error"]["fields"]) == {"password", "organization"}
    wrong_type = APIClient().post(
        "/v1/auth/token", {"email": "a@example.com", "password": 123, "organization": "x"}, format="json"
    )
    assert wrong_type.status_code == 400
    assert wrong_type.json()["error"]["type"] == "invalid_request"


def test_the_same_email_in_two_organizations_logs_in_to_the_one_named(make_member, organization):
    other = OrganizationFactory()
    first = make_member("viewer", email="shared@example.com")
    # A second account with the same address, member of another organization only.
    second = make_member("owner", organization=other, email="Shared@Example.com")
    assert claims_of(login("shared@example.com", organization.slug).json()["accessToken"])["sub"] == str(first.pk)
    assert claims_of(login("shared@example.com", other.slug).json()["accessToken"])["sub"] == str(second.pk)


# --- Use -------------------------------------------------------------------------------------------


def test_an_access_token_works_on_every_endpoint_in_live_mode(
    jwt_api, organization, django_capture_on_commit_callbacks
):
    live = sent_invitation(organization)
    sandbox = sent_invitation(organization, livemode=False)
    created = jwt_api.post("/v1/autodoc/invitations", {"channel": "email", "recipient": "a@example.com"}, format="json")
    assert created.status_code == 201
    assert created.json()["livemode"] is True
    listed = jwt_api.get("/v1/autodoc/invitations")
    assert listed.status_code == 200
    assert {row["token"] for row in listed.json()["data"]} == {live.token, created.json()["token"]}
    assert jwt_api.get(f"/v1/autodoc/invitations/{live.token}").status_code == 200
    # Live mode only: a sandbox invitation is as invisible as a missing one.
    assert jwt_api.get(f"/v1/autodoc/invitations/{sandbox.token}").status_code == 404
    assert jwt_api.post(f"/v1/autodoc/invitations/{sandbox.token}/resend").status_code == 404
    assert jwt_api.post(f"/v1/autodoc/invitations/{live.token}/resend").status_code == 200
    assert jwt_api.get("/v1/billing/usage").status_code == 200


def test_a_member_sees_only_their_organizations_invitations(jwt_api, organization):
    theirs = sent_invitation(OrganizationFactory())
    assert jwt_api.get(f"/v1/autodoc/invitations/{theirs.token}").status_code == 404
    assert jwt_api.post(f"/v1/autodoc/invitations/{theirs.token}/resend").status_code == 404
    assert jwt_api.get("/v1/autodoc/invitations").json()["data"] == []


# --- Roles -----------------------------------------------------------------------------------------


def test_a_viewer_may_read_but_not_create_or_resend(make_member, organization):
    invitation = sent_invitation(organization)
    viewer = client_for(token_pair_for(make_member("viewer"), organization)["accessToken"])
    assert viewer.get("/v1/autodoc/invitations").status_code == 200
    assert viewer.get(f"/v1/autodoc/invitations/{invitation.token}").status_code == 200
    assert viewer.get("/v1/billing/usage").status_code == 200
    resend = viewer.post(f"/v1/autodoc/invitations/{invitation.token}/resend")
    create = viewer.post("/v1/autodoc/invitations", {"channel": "email", "recipient": "a@example.com"}, format="json")
    for response in (resend, create):
        assert response.status_code == 403
        assert response.json()["error"]["type"] == "permission_denied"
    invitation.refresh_from_db()
    assert (invitation.status, invitation.delivery_attempts) == (Invitation.Status.SENT, 1)
    assert Invitation.objects.count() == 1


@pytest.mark.parametrize("role", ["owner", "admin", "agent"])
def test_owners_admins_and_agents_may_resend(make_member, organization, role):
    invitation = sent_invitation(organization)
    member = client_for(token_pair_for(make_member(role), organization)["accessToken"])
    assert member.post(f"/v1/autodoc/invitations/{invitation.token}/resend").status_code == 200


def test_a_demotion_applies_to_tokens_already_issued(make_member, organization):
    user = make_member("agent")
    agent = client_for(token_pair_for(user, organization)["accessToken"])
    Membership.objects.filter(user=user).update(role=Membership.Role.VIEWER)
    invitation = sent_invitation(organization)
    assert agent.post(f"/v1/autodoc/invitations/{invitation.token}/resend").status_code == 403
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.SENT


# --- Audit: both kinds of credentials reach the same service ---------------------------------------


def test_api_keys_and_jwts_resend_through_the_same_service_and_the_audit_row_names_who(
    api, make_member, organization, live_key
):
    user = make_member("agent")
    by_user = client_for(token_pair_for(user, organization)["accessToken"])
    via_key, via_jwt = sent_invitation(organization), sent_invitation(organization)
    key_response = api.post(f"/v1/autodoc/invitations/{via_key.token}/resend")
    jwt_response = by_user.post(f"/v1/autodoc/invitations/{via_jwt.token}/resend")
    for response in (key_response, jwt_response):
        assert response.status_code == 200
        assert (response.json()["status"], response.json()["deliveryAttempts"]) == ("pending", 2)
    key_event = InvitationEvent.objects.get(invitation=via_key, reason="resend")
    jwt_event = InvitationEvent.objects.get(invitation=via_jwt, reason="resend")
    assert (key_event.actor_kind, key_event.actor_api_key.prefix, key_event.actor_user) == (
        "api_key",
        live_key[: len("private_") + 6],
        None,
    )
    assert (jwt_event.actor_kind, jwt_event.actor_user, jwt_event.actor_api_key) == ("user", user, None)
    assert jwt_event.actor_label == f"user:{user.username}"
    assert (key_event.from_status, key_event.to_status) == (jwt_event.from_status, jwt_event.to_status)


def test_an_invitation_created_with_a_jwt_is_audited_as_the_user(make_member, organization):
    user = make_member("owner")
    owner = client_for(token_pair_for(user, organization)["accessToken"])
    response = owner.post("/v1/autodoc/invitations", {"channel": "email", "recipient": "a@example.com"}, format="json")
    event = InvitationEvent.objects.get(invitation__token=response.json()["token"])
    assert (event.reason, event.actor_kind, event.actor_user) == ("created", "user", user)


# --- Refresh ---------------------------------------------------------------------------------------


def test_a_refresh_token_gets_a_new_working_pair_after_the_access_token_expired(make_member, organization):
    user = make_member("agent")
    with time_machine.travel(T0, tick=False):
        pair = token_pair_for(user, organization)
    with time_machine.travel(T0 + timedelta(hours=2), tick=False):
        assert_401(client_for(pair["accessToken"]).get("/v1/autodoc/invitations"), "expired")
        response = refresh(pair["refreshToken"])
        assert response.status_code == 200
        new_pair = response.json()
        assert claims_of(new_pair["accessToken"])["iat"] == int((T0 + timedelta(hours=2)).timestamp())
        assert client_for(new_pair["accessToken"]).get("/v1/autodoc/invitations").status_code == 200
        assert (new_pair["organization"], new_pair["role"]) == (organization.slug, "agent")


def test_a_refresh_carries_the_current_role(make_member, organization):
    user = make_member("agent")
    pair = token_pair_for(user, organization)
    Membership.objects.filter(user=user).update(role=Membership.Role.ADMIN)
    assert refresh(pair["refreshToken"]).json()["role"] == "admin"


def test_an_expired_refresh_token_is_refused(make_member, organization):
    with time_machine.travel(T0, tick=False):
        pair = token_pair_for(make_member("agent"), organization)
    with time_machine.travel(T0 + timedelta(seconds=settings.JWT_REFRESH_TTL_SECONDS), tick=False):
        assert_401(refresh(pair["refreshToken"]), "expired")


def test_a_refresh_token_is_not_an_access_token_and_the_reverse(make_member, organization):
    pair = token_pair_for(make_member("agent"), organization)
    assert_401(client_for(pair["refreshToken"]).get("/v1/autodoc/invitations"))
    assert_401(refresh(pair["accessToken"]))


@pytest.mark.parametrize("change", ["deactivated", "removed from the organization", "password changed"])
def test_refresh_is_refused_when_the_user_can_no_longer_act(make_member, organization, change):
    user = make_member("agent")
    pair = token_pair_for(user, organization)
    if change == "deactivated":
        user.is_active = False
        user.save()
    elif change == "removed from the organization":
        Membership.objects.filter(user=user).delete()
    else:
        user.set_password("another long password")
        user.save()
    assert_401(refresh(pair["refreshToken"]))


# --- Every rejection of an access token ------------------------------------------------------------


def test_an_access_token_is_accepted_until_it_expires_and_refused_from_then_on(make_member, organization):
    with time_machine.travel(T0, tick=False):
        client = client_for(token_pair_for(make_member("agent"), organization)["accessToken"])
    with time_machine.travel(T0 + timedelta(seconds=899), tick=False):
        assert client.get("/v1/autodoc/invitations").status_code == 200
    with time_machine.travel(T0 + timedelta(seconds=900), tick=False):
        response = client.get("/v1/autodoc/invitations")
    assert_401(response, "The token has expired.")
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_a_tampered_token_is_refused(make_member, organization):
    invitation = sent_invitation(organization)
    access = token_pair_for(make_member("viewer"), organization)["accessToken"]
    header, payload, signature = access.split(".")
    promoted = _b64({**claims_of(access), "role": "owner"})
    response = client_for(f"{header}.{promoted}.{signature}").post(f"/v1/autodoc/invitations/{invitation.token}/resend")
    assert_401(response, "Invalid token.")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    assert_401(client_for(f"{header}.{payload}.{flipped}").get("/v1/autodoc/invitations"))


def test_a_token_signed_with_another_key_is_refused(make_member, organization):
    user = make_member("agent")
    claims = claims_of(token_pair_for(user, organization)["accessToken"])
    forged = jwt.encode(claims, "someone else's key of a decent length, 32+ bytes", algorithm="HS256")
    assert_401(client_for(forged).get("/v1/autodoc/invitations"))


def test_an_alg_none_token_is_refused(make_member, organization):
    claims = claims_of(token_pair_for(make_member("owner"), organization)["accessToken"])
    for alg in ("none", "None", "NONE"):
        unsigned = f"{_b64({'alg': alg, 'typ': 'JWT'})}.{_b64(claims)}."
        assert_401(client_for(unsigned).get("/v1/autodoc/invitations"))


def test_a_token_for_an_organization_the_user_does_not_belong_to_is_refused(make_member, organization):
    other = OrganizationFactory()
    sent_invitation(other)
    user = make_member("owner")
    # Correctly signed, but naming another organization: only the real key could make it, so
    # this is what a leaked key or a bug in issuing would look like.
    issued = tokens.token_encode(
        user=user, organization_slug=other.slug, role="owner", token_type=tokens.ACCESS, now=timezone.now()
    )
    assert_401(client_for(issued.token).get("/v1/autodoc/invitations"), "not a member")


def test_a_token_is_refused_once_the_membership_is_removed(make_member, organization):
    user = make_member("agent")
    client = client_for(token_pair_for(user, organization)["accessToken"])
    assert client.get("/v1/autodoc/invitations").status_code == 200
    Membership.objects.filter(user=user).delete()
    assert_401(client.get("/v1/autodoc/invitations"), "not a member")


def test_a_token_of_a_user_made_inactive_is_refused(make_member, organization):
    user = make_member("agent")
    client = client_for(token_pair_for(user, organization)["accessToken"])
    user.is_active = False
    user.save()
    assert_401(client.get("/v1/autodoc/invitations"), "inactive")


def test_a_token_issued_before_a_password_change_is_refused(make_member, organization):
    user = make_member("agent")
    client = client_for(token_pair_for(user, organization)["accessToken"])
    user.set_password("another long password")
    user.save()
    assert_401(client.get("/v1/autodoc/invitations"), "password changed")


@pytest.mark.parametrize("garbage", ["not-a-jwt", "a.b.c", "x" * 5000, "eyJhbGciOiJIUzI1NiJ9.e30.sig"])
def test_a_malformed_bearer_token_is_refused(organization, garbage):
    assert_401(client_for(garbage).get("/v1/autodoc/invitations"))


def test_private_keys_still_authenticate_beside_jwts(api, sandbox_api):
    assert api.get("/v1/autodoc/invitations").status_code == 200
    assert sandbox_api.get("/v1/autodoc/invitations").status_code == 200
    assert_401(client_for("private_not_a_real_key").get("/v1/autodoc/invitations"))


def test_a_jwt_request_costs_one_query_to_authenticate(jwt_api, django_assert_max_num_queries):
    # The membership, its user and organization in one join; then the list's count.
    with django_assert_max_num_queries(2):
        assert jwt_api.get("/v1/autodoc/invitations").status_code == 200


def test_password_guessing_from_one_address_is_slowed_to_10_tries_a_minute(make_member, organization):
    user = make_member("agent")
    with time_machine.travel(T0, tick=False):
        for _ in range(10):
            assert_401(login(user.email, organization.slug, "guess"))
        response = login(user.email, organization.slug)
        assert response.status_code == 429
        assert (response.json()["error"]["type"], response.json()["error"]["scope"]) == ("rate_limited", "ip")
        assert response["Retry-After"] == str(response.json()["error"]["retry_after"])
    with time_machine.travel(T0 + timedelta(seconds=60), tick=False):
        assert login(user.email, organization.slug).status_code == 200
