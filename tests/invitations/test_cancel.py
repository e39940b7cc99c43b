"""Cancel: pending, sent, delivered, opened or failed becomes canceled for good; its queued sends
never reach a provider; its link answers 410 withdrawn; a resend of it says it was canceled."""

import io
import json
from datetime import timedelta

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from billing.models import BillingEvent
from delivery.models import DeliveryAttempt
from invitations.models import Invitation, InvitationEvent
from tests.conftest import client_for, token_pair_for
from tests.factories import InvitationFactory, StaffUserFactory
from webhooks.models import Event

pytestmark = pytest.mark.django_db


def cancel(api, invitation):
    return api.post(f"/v1/autodoc/invitations/{invitation.token}/cancel")


@pytest.mark.parametrize(
    "status",
    [
        Invitation.Status.PENDING,
        Invitation.Status.SENT,
        Invitation.Status.DELIVERED,
        Invitation.Status.OPENED,
        Invitation.Status.FAILED,
    ],
)
def test_each_allowed_status_is_canceled_with_its_time_and_actor(api, organization, status):
    invitation = InvitationFactory(organization=organization, status=status)
    response = cancel(api, invitation)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "canceled" and body["canceledAt"] is not None
    event = InvitationEvent.objects.get(invitation=invitation, to_status="canceled")
    assert (event.from_status, event.reason, event.actor_kind) == (status, "canceled", "api_key")
    assert Event.objects.get(type="invitation.canceled").subject == invitation.token


@pytest.mark.parametrize(
    "status",
    [Invitation.Status.STARTED, Invitation.Status.COMPLETED, Invitation.Status.REJECTED, Invitation.Status.CANCELED],
)
def test_started_finished_or_canceled_invitations_cannot_be_canceled(api, organization, status):
    invitation = InvitationFactory(organization=organization, status=status)
    response = cancel(api, invitation)
    assert response.status_code == 409
    assert response.json()["error"]["type"] == "invalid_status"
    assert response.json()["error"]["status"] == status
    invitation.refresh_from_db()
    assert invitation.status == status


def test_a_viewer_may_not_cancel_and_another_tenant_gets_404(api, make_member, organization, other_organization):
    invitation = InvitationFactory(organization=organization)
    viewer = client_for(token_pair_for(make_member("viewer"), organization)["accessToken"])
    assert cancel(viewer, invitation).status_code == 403
    foreign = InvitationFactory(organization=other_organization)
    assert cancel(api, foreign).status_code == 404
    assert not InvitationEvent.objects.filter(to_status="canceled").exists()


def test_a_canceled_invitations_queued_attempt_never_reaches_the_provider_nor_is_billed(
    api, organization, run_worker, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        created = api.post(
            "/v1/autodoc/invitations", {"channel": "email", "recipient": "ana@example.com"}, format="json"
        )
    invitation = Invitation.objects.get(token=created.json()["token"])
    assert cancel(api, invitation).status_code == 200
    run_worker()  # the job runs, finds its attempt canceled, does nothing
    assert mail.outbox == []
    assert DeliveryAttempt.objects.get(invitation=invitation).status == DeliveryAttempt.Status.CANCELED
    assert not BillingEvent.objects.exists()
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.CANCELED


def test_the_link_of_a_canceled_invitation_answers_410_withdrawn(api, client, organization):
    invitation = InvitationFactory(organization=organization)
    cancel(api, invitation)
    for response in (client.get(f"/i/{invitation.token}"), client.head(f"/i/{invitation.token}")):
        assert response.status_code == 410
    assert "withdrawn" in client.get(f"/i/{invitation.token}").content.decode()


def test_a_resend_of_a_canceled_invitation_is_a_409_saying_so(api, organization):
    invitation = InvitationFactory(organization=organization, sent_at=timezone.now() - timedelta(minutes=5))
    cancel(api, invitation)
    response = api.post(f"/v1/autodoc/invitations/{invitation.token}/resend")
    assert response.status_code == 409
    error = response.json()["error"]
    assert (error["type"], error["status"]) == ("invalid_status", "canceled")
    assert "canceled" in error["message"] and "create a new invitation" in error["message"]


def test_the_bulk_command_skips_canceled_invitations_and_counts_them(api, organization):
    invitation = InvitationFactory(organization=organization, sent_at=timezone.now() - timedelta(minutes=5))
    cancel(api, invitation)
    out = io.StringIO()
    call_command("resend_invitations", "--all", "--status", "any", "--json", stdout=out)
    summary = json.loads(out.getvalue())
    assert summary["counts"]["canceled"] == 1 and summary["counts"]["resent"] == 0


def test_the_admin_cancel_action_needs_its_permission(client, organization):
    invitation = InvitationFactory(organization=organization)
    agent = StaffUserFactory(permissions=("invitations.view_invitation",))
    client.force_login(agent)
    client.post(
        "/admin/invitations/invitation/", {"action": "cancel", "_selected_action": [invitation.pk], "confirm": "yes"}
    )
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.SENT
    allowed = StaffUserFactory(permissions=("invitations.view_invitation", "invitations.cancel_invitation"))
    client.force_login(allowed)
    client.post(
        "/admin/invitations/invitation/", {"action": "cancel", "_selected_action": [invitation.pk], "confirm": "yes"}
    )
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.CANCELED
    assert InvitationEvent.objects.get(to_status="canceled").actor_user_id == allowed.pk


def test_the_admin_pages_cancel_button_asks_first_then_cancels(client, organization):
    invitation = InvitationFactory(organization=organization)
    change = f"/admin/invitations/invitation/{invitation.pk}/change/"
    cancel_url = f"/admin/invitations/invitation/{invitation.pk}/cancel/"
    viewer = StaffUserFactory(permissions=("invitations.view_invitation",))
    client.force_login(viewer)
    assert 'id="cancel-button"' not in client.get(change).content.decode()
    assert client.post(cancel_url).status_code == 403

    agent = StaffUserFactory(
        username="agent-cy", permissions=("invitations.view_invitation", "invitations.cancel_invitation")
    )
    client.force_login(agent)
    assert f'href="{cancel_url}" id="cancel-button"' in client.get(change).content.decode()
    question = client.get(cancel_url)
    assert question.status_code == 200 and "This cannot be undone" in question.content.decode()
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.SENT  # asking changed nothing
    done = client.post(cancel_url, follow=True)
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.CANCELED
    assert f"Invitation {invitation.token}: canceled." in done.content.decode()
    event = InvitationEvent.objects.get(invitation=invitation, to_status="canceled")
    assert (event.actor_kind, event.actor_label) == ("staff", "staff:agent-cy")
    # Canceled for good: no button any more, and a second POST is refused with the rule's message.
    assert 'id="cancel-button"' not in done.content.decode()
    again = client.post(cancel_url, follow=True).content.decode()
    assert "not canceled" in again and "can no longer be canceled" in again
