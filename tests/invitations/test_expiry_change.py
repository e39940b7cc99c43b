"""PATCH expiresAt moves the expiry, later or earlier, within INVITATION_MAX_LIFETIME_DAYS of
creation, never for an expired or finished invitation; it sends nothing, writes expiry_changed, and
like every PATCH that sends nothing fires invitation.updated."""

from datetime import timedelta

import pytest
import time_machine

from delivery.models import DeliveryAttempt
from invitations.models import Invitation, InvitationEvent
from tests.helpers import CREATE_URL, T0, sent_invitation
from webhooks.models import Event

pytestmark = pytest.mark.django_db


def patch(api, invitation, body):
    return api.patch(f"{CREATE_URL}/{invitation.token}", body, format="json")


def iso(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def test_an_extension_moves_the_expiry_sends_nothing_and_is_told_as_updated(api, organization, client):
    invitation = sent_invitation(organization, expires_at=T0 + timedelta(days=2))
    later = invitation.created_at + timedelta(days=90)
    with time_machine.travel(T0, tick=False):
        answer = patch(api, invitation, {"expiresAt": iso(later)})
    assert answer.status_code == 200, answer.json()
    assert (answer.json()["expiresAt"], answer.json()["status"]) == (iso(later), "sent")
    row = InvitationEvent.objects.get(invitation=invitation)
    assert (row.reason, row.from_status, row.to_status, row.actor_kind) == ("expiry_changed", "sent", "sent", "api_key")
    assert row.message == "Expiry moved from 2026-03-04 09:00:00 to 2026-05-31 08:00:00 UTC."
    [event] = Event.objects.filter(subject=invitation.token)
    assert event.type == "invitation.updated" and event.data["invitation"]["expiresAt"] == iso(later)
    assert not DeliveryAttempt.objects.exists()
    with time_machine.travel(T0 + timedelta(days=3), tick=False):  # past the old expiry: the link still works
        assert client.get(f"/i/{invitation.token}").status_code == 302


def test_an_earlier_expiry_takes_effect(api, organization, client):
    invitation = sent_invitation(organization)
    with time_machine.travel(T0, tick=False):
        assert patch(api, invitation, {"expiresAt": iso(T0 + timedelta(hours=1))}).status_code == 200
    with time_machine.travel(T0 + timedelta(hours=2), tick=False):
        assert client.get(f"/i/{invitation.token}").status_code == 410
        assert api.post(f"{CREATE_URL}/{invitation.token}/resend").json()["error"]["type"] == "invitation_expired"


@pytest.mark.parametrize(
    "fields, when, expected",
    [
        ({}, T0 - timedelta(seconds=1), (422, "validation_error")),  # in the past
        ({}, "beyond", (422, "validation_error")),  # more than 90 days after createdAt
        ({"expires_at": T0 - timedelta(minutes=1)}, T0 + timedelta(days=5), (422, "invitation_expired")),
        ({"status": Invitation.Status.COMPLETED}, T0 + timedelta(days=5), (409, "invalid_status")),
        ({"status": Invitation.Status.CANCELED}, T0 + timedelta(days=5), (409, "invalid_status")),
    ],
    ids=["past", "beyond the lifetime", "expired", "completed", "canceled"],
)
def test_moves_that_are_refused_change_nothing(api, organization, fields, when, expected):
    invitation = sent_invitation(organization, **fields)
    if when == "beyond":
        when = invitation.created_at + timedelta(days=90, seconds=1)
    with time_machine.travel(T0, tick=False):
        answer = patch(api, invitation, {"expiresAt": iso(when)})
    assert (answer.status_code, answer.json()["error"]["type"]) == expected
    if expected[1] == "validation_error":
        assert "expiresAt" in answer.json()["error"]["fields"]
    before = invitation.expires_at
    invitation.refresh_from_db()
    assert invitation.expires_at == before
    assert not InvitationEvent.objects.exists() and not Event.objects.exists()


def test_every_patch_that_sends_nothing_is_told_as_updated_and_a_correction_is_not(api, organization):
    invitation = sent_invitation(organization)
    with time_machine.travel(T0, tick=False):
        assert patch(api, invitation, {"reference": "crm-9"}).status_code == 200
        assert patch(api, invitation, {"recipient": "someone.else@example.com"}).status_code == 200
    types = list(Event.objects.filter(subject=invitation.token).order_by("id").values_list("type", flat=True))
    assert types == ["invitation.updated", "invitation.corrected"]
