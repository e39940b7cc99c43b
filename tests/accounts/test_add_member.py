"""`manage.py add_member SLUG EMAIL --role ROLE [--password P]`."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from accounts.models import Membership
from tests.accounts.test_jwt_auth import login
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db

User = get_user_model()


def add_member(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("add_member", *args, stdout=out, stderr=err)
    return out.getvalue()


def test_add_member_creates_the_user_and_the_membership_and_the_user_can_log_in(organization):
    output = add_member(organization.slug, "Ana@Example.com", "--role", "agent", "--password", "a fine long password")
    user = User.objects.get(email="Ana@Example.com")
    assert user.username == "ana@example.com"
    assert Membership.objects.get(user=user, organization=organization).role == "agent"
    assert "is agent in" in output
    response = login("ana@example.com", organization.slug, "a fine long password")
    assert response.status_code == 200
    assert response.json()["role"] == "agent"


def test_a_new_user_without_a_password_gets_a_generated_one_shown_once(organization):
    output = add_member(organization.slug, "bo@example.com", "--role", "viewer")
    password = output.split("Password: ")[1].strip()
    assert len(password) >= 12
    assert login("bo@example.com", organization.slug, password).json()["role"] == "viewer"


def test_an_existing_user_keeps_their_password_and_gets_the_new_role(organization):
    add_member(organization.slug, "cy@example.com", "--role", "agent", "--password", "a fine long password")
    other = OrganizationFactory()
    output = add_member(other.slug, "CY@example.com", "--role", "admin")
    assert "Password:" not in output
    add_member(organization.slug, "cy@example.com", "--role", "viewer")
    user = User.objects.get(email="cy@example.com")
    assert dict(user.memberships.values_list("organization__slug", "role")) == {
        organization.slug: "viewer",
        other.slug: "admin",
    }
    assert login("cy@example.com", other.slug, "a fine long password").json()["role"] == "admin"


def test_add_member_to_an_unknown_organization_fails_and_creates_nothing():
    with pytest.raises(CommandError, match="No organization"):
        add_member("nope", "dee@example.com", "--role", "agent")
    assert not User.objects.exists()


def test_add_member_refuses_a_bad_email_a_weak_password_and_an_unknown_role(organization):
    with pytest.raises(CommandError, match="valid email"):
        add_member(organization.slug, "not-an-email", "--role", "agent")
    with pytest.raises(CommandError, match="too weak"):
        add_member(organization.slug, "ed@example.com", "--role", "agent", "--password", "short")
    with pytest.raises(CommandError):
        add_member(organization.slug, "ed@example.com", "--role", "superuser")
    assert not User.objects.exists()
    assert not Membership.objects.exists()
