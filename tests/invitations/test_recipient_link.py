"""The recipient's link, GET /i/<token>: an HTML door, not the JSON API."""

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine

from invitations.models import Invitation, InvitationEvent
from tests.factories import InvitationFactory, WorkflowFactory
from tests.helpers import T0

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def at_t0():
    with time_machine.travel(T0, tick=False):
        yield


def invitation_for(organization, **kwargs):
    defaults = {"created_at": T0 - timedelta(hours=1), "sent_at": T0 - timedelta(minutes=10)}
    return InvitationFactory(organization=organization, **{**defaults, **kwargs})


@pytest.mark.parametrize("status", [Invitation.Status.SENT, Invitation.Status.DELIVERED])
def test_following_the_link_records_opened_and_redirects_to_the_flow_with_the_token(client, organization, status):
    invitation = invitation_for(organization, status=status)
    with time_machine.travel(T0, tick=False):
        response = client.get(f"/i/{invitation.token}")

    assert response.status_code == 302
    target = urlsplit(response["Location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == invitation.workflow.flow_url
    assert parse_qs(target.query) == {"invitation_token": [invitation.token]}
    assert "no-store" in response["Cache-Control"]
    invitation.refresh_from_db()
    assert (invitation.status, invitation.opened_at) == (Invitation.Status.OPENED, T0)
    event = InvitationEvent.objects.get(invitation=invitation)
    assert (event.from_status, event.to_status, event.reason, event.actor_kind) == (
        status,
        "opened",
        "link_opened",
        "recipient",
    )


def test_the_flow_urls_own_query_is_kept_and_its_token_parameter_replaced(client, organization):
    workflow = WorkflowFactory(
        organization=organization, is_default=False, flow_url="https://verify.example.com/f?lang=de&invitation_token=x"
    )
    invitation = invitation_for(organization, workflow=workflow)
    response = client.get(f"/i/{invitation.token}")
    assert parse_qs(urlsplit(response["Location"]).query) == {"lang": ["de"], "invitation_token": [invitation.token]}


@pytest.mark.parametrize(
    "status",
    [
        Invitation.Status.PENDING,
        Invitation.Status.FAILED,
        Invitation.Status.OPENED,
        Invitation.Status.STARTED,
        Invitation.Status.COMPLETED,
        Invitation.Status.REJECTED,
    ],
)
def test_the_link_works_from_any_other_status_without_moving_it(client, organization, status):
    invitation = invitation_for(organization, status=status)
    response = client.get(f"/i/{invitation.token}")
    assert response.status_code == 302
    invitation.refresh_from_db()
    assert invitation.status == status
    assert not InvitationEvent.objects.filter(invitation=invitation).exists()


def test_a_second_click_changes_nothing(client, organization):
    invitation = invitation_for(organization)
    with time_machine.travel(T0, tick=False):
        client.get(f"/i/{invitation.token}")
    with time_machine.travel(T0 + timedelta(hours=1), tick=False):
        assert client.get(f"/i/{invitation.token}").status_code == 302
    invitation.refresh_from_db()
    assert invitation.opened_at == T0
    assert InvitationEvent.objects.filter(invitation=invitation).count() == 1


def test_an_expired_link_shows_an_html_page_saying_so_with_410(client, organization):
    invitation = invitation_for(organization, expires_at=T0 - timedelta(seconds=1))
    with time_machine.travel(T0, tick=False):
        response = client.get(f"/i/{invitation.token}")

    assert response.status_code == 410
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert page.startswith("<!doctype html>")
    assert '<html lang="en">' in page
    assert "<h1>This invitation has expired</h1>" in page
    assert "ask them to send you a new invitation" in page
    assert "Location" not in response
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.SENT


def test_an_unknown_link_shows_an_html_not_found_page_with_404(client, db):
    for token in ("adi_doesnotexist00000000000", "not-even-a-token!"):
        response = client.get(f"/i/{token}")
        assert response.status_code == 404
        assert response["Content-Type"].startswith("text/html")
        page = response.content.decode()
        assert "<h1>We could not find this invitation</h1>" in page
        assert '<meta name="viewport"' in page
        assert response["X-Robots-Tag"] == "noindex, nofollow"


def test_a_head_request_from_a_link_scanner_does_not_count_as_opened(client, organization):
    invitation = invitation_for(organization)
    response = client.head(f"/i/{invitation.token}")
    assert response.status_code == 302
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.SENT


def test_the_link_the_api_returns_is_the_one_that_works(api, client, organization):
    invitation = invitation_for(organization)
    link = api.get(f"/v1/autodoc/invitations/{invitation.token}").json()["link"]
    assert client.get(urlsplit(link).path).status_code == 302
