"""Every change of an organization's keys and members takes an actor and leaves an audit row."""

import io

import pytest
from django.core.management import call_command

from accounts.models import AccountEvent, ApiKey

pytestmark = pytest.mark.django_db


def test_a_key_made_by_the_command_and_revoked_in_the_admin_is_audited_with_each_actor(
    client, admin_user, organization
):
    call_command("create_api_key", organization.slug, "--sandbox", stdout=io.StringIO())
    api_key = ApiKey.objects.get()
    client.force_login(admin_user)
    client.post(
        "/admin/accounts/apikey/",
        {"action": "revoke", "_selected_action": [api_key.pk]},
    )
    rows = list(AccountEvent.objects.order_by("id").values_list("action", "target", "actor_kind", "actor_label"))
    assert rows[0][:3] == ("api_key_created", api_key.prefix, "command")
    assert rows[0][3].startswith("command:create_api_key (")
    assert rows[1] == ("api_key_revoked", api_key.prefix, "staff", f"staff:{admin_user.username}")
    # The secret appears in no audit row, only its visible prefix.
    assert all(len(target) < 30 for _, target, _, _ in rows)


def test_a_member_added_by_the_command_is_audited_without_the_password(organization):
    call_command(
        "add_member",
        organization.slug,
        "ana@example.com",
        "--role",
        "viewer",
        "--password",
        "a long enough password 1",
        stdout=io.StringIO(),
    )
    event = AccountEvent.objects.get(action="membership_set")
    assert (event.target, event.detail, event.actor_kind) == ("ana@example.com", "role viewer; password set", "command")
    assert "a long enough password" not in event.detail


def test_a_role_changed_in_the_admin_is_audited(client, admin_user, make_member, organization):
    member = make_member("agent")
    membership = member.memberships.get()
    client.force_login(admin_user)
    response = client.post(
        f"/admin/accounts/membership/{membership.pk}/change/",
        {"user": member.pk, "organization": organization.pk, "role": "viewer"},
    )
    assert response.status_code == 302
    event = AccountEvent.objects.get(action="membership_set")
    assert (event.target, event.detail, event.actor_user_id) == (member.email, "role viewer (admin)", admin_user.pk)


def test_a_member_removed_in_the_admin_is_audited(client, admin_user, make_member, organization):
    member = make_member("agent")
    membership = member.memberships.get()
    client.force_login(admin_user)
    response = client.post(f"/admin/accounts/membership/{membership.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not member.memberships.exists()
    event = AccountEvent.objects.get(action="membership_removed")
    assert (event.target, event.detail, event.actor_user_id) == (member.email, "was agent (admin)", admin_user.pk)
