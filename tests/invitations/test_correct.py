"""PATCH /v1/autodoc/invitations/{token}: correct the recipient and send there (API.md "Correct and
resend"), every check in its order; or change reference, locale and reminders alone."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from billing.models import BillingEvent
from delivery.models import DeliveryAttempt
from invitations.models import Invitation, InvitationEvent
from suppressions.models import Suppression
from tests.conftest import postmark_record, postmark_webhook
from tests.factories import InvitationFactory
from tests.helpers import T0
from webhooks.models import Event

pytestmark = pytest.mark.django_db

OLD, NEW = "ana@exmaple.com", "ana@example.com"


def patch(api, invitation, body, **headers):
    return api.patch(f"/v1/autodoc/invitations/{invitation.token}", body, format="json", **headers)


def error_of(response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["type"]


@pytest.fixture
def sent(organization):
    return InvitationFactory(organization=organization, recipient=OLD)


def test_the_checks_come_in_the_contracts_order(api, organization, sent):
    now = timezone.now()
    # Expired, canceled and capped at once: expiry is checked first.
    Invitation.objects.filter(pk=sent.pk).update(
        expires_at=now - timedelta(seconds=1), status=Invitation.Status.CANCELED, delivery_attempts=10
    )
    assert error_of(patch(api, sent, {"recipient": "x"})) == (422, "invitation_expired")
    Invitation.objects.filter(pk=sent.pk).update(expires_at=now + timedelta(days=1))
    refused = patch(api, sent, {"recipient": "x"})
    assert error_of(refused) == (409, "invalid_status")
    assert "withdrawn" in refused.json()["error"]["message"]
    Invitation.objects.filter(pk=sent.pk).update(status=Invitation.Status.OPENED)
    assert "already reached someone" in patch(api, sent, {"recipient": "x"}).json()["error"]["message"]
    Invitation.objects.filter(pk=sent.pk).update(status=Invitation.Status.FAILED)
    assert error_of(patch(api, sent, {"recipient": "x"})) == (422, "max_attempts_reached")
    Invitation.objects.filter(pk=sent.pk).update(delivery_attempts=3)
    invalid = patch(api, sent, {"recipient": "not an address"})
    assert error_of(invalid) == (422, "validation_error")
    assert "recipient" in invalid.json()["error"]["fields"]
    Invitation.objects.filter(pk=sent.pk).update(status=Invitation.Status.SENT)
    assert error_of(patch(api, sent, {"recipient": OLD.upper()})) == (422, "validation_error")
    Invitation.objects.filter(pk=sent.pk).update(status=Invitation.Status.FAILED)
    assert error_of(patch(api, sent, {"channel": "sms"})) == (422, "validation_error")
    api.post("/v1/suppressions", {"recipient": NEW}, format="json")
    suppressed = patch(api, sent, {"recipient": NEW})
    assert error_of(suppressed) == (422, "recipient_suppressed")
    assert suppressed.json()["error"]["reason"] == "manual"
    # Nothing of it was written.
    sent.refresh_from_db()
    assert (sent.recipient, sent.status, sent.delivery_attempts) == (OLD, Invitation.Status.FAILED, 3)
    assert not DeliveryAttempt.objects.exists()
    assert not InvitationEvent.objects.filter(invitation=sent).exists()


def test_wrong_types_and_unknown_fields_are_malformed_and_an_empty_patch_is_invalid(api, sent):
    assert error_of(patch(api, sent, {"recipient": 5})) == (400, "invalid_request")
    assert error_of(patch(api, sent, {"status": "sent"})) == (400, "invalid_request")
    assert error_of(patch(api, sent, {"reminders": {"max": "2"}})) == (400, "invalid_request")
    assert error_of(patch(api, sent, {})) == (422, "validation_error")
    assert error_of(patch(api, sent, {"reminders": {"afterHours": 0.5}})) == (422, "validation_error")


def test_another_tenants_invitation_is_a_404(other_organization, api):
    theirs = InvitationFactory(organization=other_organization)
    assert error_of(patch(api, theirs, {"recipient": NEW})) == (404, "not_found")


def test_a_hard_bounced_invitation_is_corrected_sent_to_the_new_address_and_billed_once(
    api, client, fake_postmark, run_worker, django_capture_on_commit_callbacks
):
    with time_machine.travel(T0, tick=True) as clock:
        with django_capture_on_commit_callbacks(execute=True):
            token = api.post("/v1/autodoc/invitations", {"channel": "email", "recipient": OLD}, format="json").json()[
                "token"
            ]
        run_worker()
        invitation = Invitation.objects.get(token=token)
        first = invitation.delivery_attempts_set.select_related("invitation").get()
        bounce = postmark_record("Bounce", first, Type="HardBounce", TypeCode=1, Description="unknown user")
        assert postmark_webhook(client, bounce).status_code == 200
        invitation.refresh_from_db()
        assert invitation.status == Invitation.Status.FAILED
        link, dossier = invitation.link, invitation.dossier_token

        clock.shift(10)  # no cooldown for a correction
        with django_capture_on_commit_callbacks(execute=True):
            corrected = patch(api, invitation, {"recipient": NEW})
        assert corrected.status_code == 200, corrected.json()
        body = corrected.json()
        assert (body["status"], body["recipient"], body["deliveryAttempts"]) == ("pending", NEW, 2)
        assert (body["sentAt"], body["errorMessage"], body["token"], body["link"]) == (None, None, token, link)
        run_worker()

    invitation.refresh_from_db()
    assert (invitation.status, invitation.recipient, invitation.dossier_token) == (Invitation.Status.SENT, NEW, dossier)
    attempts = list(invitation.delivery_attempts_set.order_by("number").values_list("number", "recipient", "status"))
    assert attempts == [(1, OLD, DeliveryAttempt.Status.FAILED), (2, NEW, DeliveryAttempt.Status.ACCEPTED)]
    corrected_row = InvitationEvent.objects.get(invitation=invitation, reason="recipient_corrected")
    assert (corrected_row.from_status, corrected_row.to_status, corrected_row.actor_kind) == (
        "failed",
        "pending",
        "api_key",
    )
    assert OLD in corrected_row.message and NEW in corrected_row.message
    types = list(Event.objects.filter(subject=token).order_by("id").values_list("type", flat=True))
    assert types == [
        "invitation.created",
        "invitation.sent",
        "invitation.failed",
        "invitation.corrected",
        "invitation.sent",
    ]
    assert Event.objects.get(type="invitation.corrected").data["previousRecipient"] == OLD
    assert BillingEvent.objects.count() == 2  # the first send and the corrected one, once each
    history = [row["reason"] for row in api.get(f"/v1/autodoc/invitations/{token}/history").json()["data"]]
    assert history[-2:] == ["recipient_corrected", "provider_accepted"]
    # The old address bounced: it is suppressed; the new one is not.
    assert list(Suppression.objects.values_list("recipient", flat=True)) == [OLD]


def test_a_correction_cancels_the_sends_still_queued_to_the_old_address(
    api, fake_postmark, run_worker, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        token = api.post("/v1/autodoc/invitations", {"channel": "email", "recipient": OLD}, format="json").json()[
            "token"
        ]
        invitation = Invitation.objects.get(token=token)
        assert patch(api, invitation, {"recipient": NEW}).status_code == 200
    run_worker()
    sent_to = [message for message in fake_postmark.calls]
    assert len(sent_to) == 1
    attempts = dict(Invitation.objects.get(token=token).delivery_attempts_set.values_list("recipient", "status"))
    assert attempts == {OLD: DeliveryAttempt.Status.CANCELED, NEW: DeliveryAttempt.Status.ACCEPTED}


def test_a_correction_from_email_to_sms_goes_through_twilio(
    api, sent, fake_twilio, run_worker, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = patch(api, sent, {"channel": "sms", "recipient": "+49 151 1234 5678"})
    assert response.status_code == 200, response.json()
    assert (response.json()["channel"], response.json()["recipient"]) == ("sms", "+4915112345678")
    run_worker()
    [message] = fake_twilio.messages
    assert message["To"] == "+4915112345678"
    assert sent.link in message["Body"]
    sent.refresh_from_db()
    assert (sent.status, sent.channel) == (Invitation.Status.SENT, "sms")


def test_details_alone_change_without_a_send_and_not_once_it_is_over(api, sent, organization):
    response = patch(api, sent, {"reference": "crm-9", "locale": "de", "reminders": {"max": 2, "afterHours": 24}})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["reference"], body["locale"], body["status"], body["deliveryAttempts"]) == ("crm-9", "de", "sent", 1)
    assert body["reminders"] == {"afterHours": 24.0, "everyHours": 72.0, "max": 2, "sent": 0}
    assert body["nextReminderAt"] is not None
    assert not DeliveryAttempt.objects.exists()
    assert InvitationEvent.objects.get(invitation=sent).reason == "details_changed"
    for status in (Invitation.Status.CANCELED, Invitation.Status.COMPLETED, Invitation.Status.REJECTED):
        Invitation.objects.filter(pk=sent.pk).update(status=status)
        assert error_of(patch(api, sent, {"reference": "x"})) == (409, "invalid_status")


def test_an_idempotency_key_replays_a_correction_and_sends_once(api, sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = patch(api, sent, {"recipient": NEW}, HTTP_IDEMPOTENCY_KEY="fix-1")
        second = patch(api, sent, {"recipient": NEW}, HTTP_IDEMPOTENCY_KEY="fix-1")
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.json() == first.json()
    assert DeliveryAttempt.objects.count() == 1
    other = patch(api, sent, {"recipient": "someone@example.com"}, HTTP_IDEMPOTENCY_KEY="fix-1")
    assert error_of(other) == (422, "idempotency_key_reused")


def test_a_viewer_cannot_correct(sent, make_member, organization):
    from tests.conftest import client_for, token_pair_for

    viewer = client_for(token_pair_for(make_member("viewer"), organization)["accessToken"])
    assert error_of(patch(viewer, sent, {"recipient": NEW})) == (403, "permission_denied")


def test_after_a_lift_the_same_recipient_again_sends_a_failed_invitation_once_more(
    api, client, fake_postmark, run_worker, django_capture_on_commit_callbacks
):
    """The dead end a new user found: bounced, suppressed, lifted; a resend is still a 409 (failed),
    and the current recipient again is the way forward."""
    with time_machine.travel(T0, tick=True) as clock:
        with django_capture_on_commit_callbacks(execute=True):
            token = api.post("/v1/autodoc/invitations", {"channel": "email", "recipient": NEW}, format="json").json()[
                "token"
            ]
        run_worker()
        invitation = Invitation.objects.get(token=token)
        first = invitation.delivery_attempts_set.select_related("invitation").get()
        bounce = postmark_record("Bounce", first, Type="HardBounce", TypeCode=1, Description="mailbox full for good")
        assert postmark_webhook(client, bounce).status_code == 200
        clock.shift(600)
        assert error_of(api.post(f"/v1/autodoc/invitations/{token}/resend")) == (409, "invalid_status")
        assert error_of(patch(api, invitation, {"recipient": NEW})) == (422, "recipient_suppressed")
        [suppression] = api.get("/v1/suppressions").json()["data"]
        assert api.delete(f"/v1/suppressions/{suppression['id']}").status_code == 204

        with django_capture_on_commit_callbacks(execute=True):
            again = patch(api, invitation, {"recipient": NEW.upper()})
        assert again.status_code == 200, again.json()
        assert (again.json()["status"], again.json()["recipient"], again.json()["deliveryAttempts"]) == (
            "pending",
            NEW,
            2,
        )
        run_worker()

    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.SENT
    attempts = list(invitation.delivery_attempts_set.order_by("number").values_list("number", "recipient", "status"))
    assert attempts == [(1, NEW, DeliveryAttempt.Status.FAILED), (2, NEW, DeliveryAttempt.Status.ACCEPTED)]
    row = InvitationEvent.objects.get(invitation=invitation, reason="recipient_corrected")
    assert (row.from_status, row.to_status, row.message) == (
        "failed",
        "pending",
        f"Sent again to {NEW}; send attempt 2 requested.",
    )
    assert Event.objects.get(type="invitation.corrected").data["previousRecipient"] == NEW
    assert [m["To"] for m in fake_postmark.messages] == [NEW, NEW]
    assert BillingEvent.objects.count() == 2


def test_the_same_recipient_is_refused_while_an_automatic_retry_is_pending(api, organization):
    invitation = InvitationFactory(organization=organization, recipient=NEW, status=Invitation.Status.FAILED)
    retry_at = timezone.now() + timedelta(minutes=5)
    DeliveryAttempt.objects.create(
        invitation=invitation,
        number=1,
        channel="email",
        recipient=NEW,
        livemode=True,
        status=DeliveryAttempt.Status.RETRYING,
        tries=1,
        retry_at=retry_at,
    )
    refused = patch(api, invitation, {"recipient": NEW})
    assert error_of(refused) == (422, "validation_error")
    assert "retried automatically" in refused.json()["error"]["fields"]["recipient"][0]
    invitation.refresh_from_db()
    assert (invitation.status, invitation.delivery_attempts) == (Invitation.Status.FAILED, 1)
