"""`manage.py create_support_user`: a console login with the support permissions and no more."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from tests.helpers import sent_invitation

pytestmark = pytest.mark.django_db


def test_a_support_user_signs_in_to_the_console_and_sees_invitations_but_not_prices(client, organization):
    invitation = sent_invitation(organization)
    out = io.StringIO()
    call_command("create_support_user", "Agent@Example.com", "--password", "a-long-pass-phrase", stdout=out)
    assert "can sign in to the support console" in out.getvalue()
    user = get_user_model().objects.get(email__iexact="agent@example.com")
    assert user.is_staff and not user.is_superuser
    assert user.has_perms(
        ["invitations.resend_invitation", "invitations.cancel_invitation", "suppressions.delete_suppression"]
    )
    assert not user.has_perm("billing.change_price")

    assert user.check_password("a-long-pass-phrase")
    client.force_login(user)
    assert client.get("/admin/").status_code == 200
    page = client.get(f"/admin/invitations/invitation/{invitation.pk}/change/")
    assert page.status_code == 200
    assert client.get("/admin/billing/price/").status_code == 403
    assert client.get("/admin/accounts/apikey/").status_code == 403


def test_running_it_again_updates_the_same_user_and_a_new_one_gets_a_password_shown_once():
    out = io.StringIO()
    call_command("create_support_user", "bo@example.com", stdout=out, stderr=io.StringIO())
    assert "Password: " in out.getvalue()
    again = io.StringIO()
    call_command("create_support_user", "BO@example.com", stdout=again)
    assert "updated" in again.getvalue() and "Password" not in again.getvalue()
    assert get_user_model().objects.filter(email__iexact="bo@example.com").count() == 1


def test_an_address_that_is_not_one_is_refused():
    with pytest.raises(CommandError, match="not an email address"):
        call_command("create_support_user", "nobody", stdout=io.StringIO())
