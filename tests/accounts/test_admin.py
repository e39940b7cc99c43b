"""Organizations, API keys and memberships in the admin: a key's secret is shown once, then only its prefix."""

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import ApiKey, Membership
from accounts.selectors import api_key_get_active
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def test_creating_an_api_key_shows_its_secret_once_and_then_only_its_prefix(admin_client_, organization):
    response = admin_client_.post(
        reverse("admin:accounts_apikey_add"), {"organization": organization.pk, "name": "crm", "livemode": "on"}
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    secret = response.context["raw_key"]
    assert secret.startswith("private_") and not secret.startswith("private_sandbox_")
    assert 'id="api-key-secret"' in response.content.decode() and secret in response.content.decode()

    api_key = ApiKey.objects.get()
    assert (api_key.organization, api_key.name, api_key.livemode) == (organization, "crm", True)
    assert api_key.key_hash == ApiKey.hash_secret(secret)
    assert api_key_get_active(raw_key=secret) == api_key

    for url in (
        reverse("admin:accounts_apikey_changelist"),
        reverse("admin:accounts_apikey_change", args=[api_key.pk]),
    ):
        page = admin_client_.get(url).content.decode()
        assert api_key.prefix in page
        assert secret not in page


def test_a_sandbox_key_is_created_when_live_is_unticked(admin_client_, organization):
    response = admin_client_.post(reverse("admin:accounts_apikey_add"), {"organization": organization.pk, "name": "t"})
    assert response.context["raw_key"].startswith("private_sandbox_")
    assert ApiKey.objects.get().livemode is False


def test_the_secret_never_reaches_the_session_or_the_admin_log(admin_client_, organization):
    from django.contrib.admin.models import LogEntry

    response = admin_client_.post(reverse("admin:accounts_apikey_add"), {"organization": organization.pk, "name": "x"})
    secret = response.context["raw_key"]
    session = admin_client_.session
    assert all(secret not in str(value) for value in session.values())
    assert secret not in " ".join(str(entry.change_message) + entry.object_repr for entry in LogEntry.objects.all())
    assert LogEntry.objects.filter(object_id=str(ApiKey.objects.get().pk)).exists()


def test_revoking_keys_from_the_admin_stops_them_authenticating(admin_client_, organization, live_key):
    api_key = ApiKey.objects.get()
    admin_client_.post(
        reverse("admin:accounts_apikey_changelist"), {"action": "revoke", "index": 0, "_selected_action": [api_key.pk]}
    )
    assert api_key_get_active(raw_key=live_key) is None


def test_organizations_and_memberships_are_listed(admin_client_, admin_user):
    organization = OrganizationFactory(slug="acme")
    Membership.objects.create(user=admin_user, organization=organization, role=Membership.Role.AGENT)
    assert "acme" in admin_client_.get(reverse("admin:accounts_organization_changelist")).content.decode()
    page = admin_client_.get(reverse("admin:accounts_membership_changelist")).content.decode()
    assert "acme" in page and "agent" in page
