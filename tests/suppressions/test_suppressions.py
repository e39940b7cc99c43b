"""Suppressions: filled from the providers' reports (a Postmark- and a Twilio-compatible server on
127.0.0.1 behind the real clients, their webhooks through the real views), consulted by every send
path, listed, added and lifted through /v1/suppressions, per organization and mode."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from billing.models import BillingEvent
from delivery.models import DeliveryAttempt
from invitations.models import Invitation
from suppressions.models import Suppression
from tests.conftest import client_for, postmark_record, postmark_webhook
from tests.delivery.test_twilio import callback, status
from tests.factories import InvitationFactory
from tests.helpers import T0, create
from webhooks.models import Event

pytestmark = pytest.mark.django_db

ANA = "ana@example.com"
HARD_BOUNCE = {
    "Type": "HardBounce",
    "TypeCode": 1,
    "Description": "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
    "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
}


def sent_invitation(api, captured, run_worker, recipient=ANA, channel="email") -> Invitation:
    response = create(api, captured, recipient, channel)
    assert response.status_code == 201, response.json()
    run_worker()
    invitation = Invitation.objects.get(token=response.json()["token"])
    assert invitation.status == Invitation.Status.SENT
    return invitation


def latest_attempt(invitation) -> DeliveryAttempt:
    return invitation.delivery_attempts_set.select_related("invitation").order_by("-number").first()


def test_a_hard_bounce_suppresses_the_address_and_a_create_to_it_in_another_case_is_refused(
    api, client, fake_postmark, run_worker, django_capture_on_commit_callbacks
):
    with time_machine.travel(T0, tick=False):
        invitation = sent_invitation(api, django_capture_on_commit_callbacks, run_worker)
        attempt = latest_attempt(invitation)
        assert postmark_webhook(client, postmark_record("Bounce", attempt, **HARD_BOUNCE)).status_code == 200

    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.FAILED
    assert "unknown user" in invitation.error_message
    [listed] = api.get("/v1/suppressions").json()["data"]
    assert listed["recipient"] == ANA
    assert (listed["channel"], listed["reason"], listed["invitation"]) == ("email", "hard_bounce", invitation.token)
    assert "unknown user" in listed["description"]
    assert listed["id"].startswith("sup_")
    assert Event.objects.filter(type="suppression.created", subject=listed["id"]).count() == 1

    calls_before = sum(fake_postmark.calls.values())
    attempts_before = DeliveryAttempt.objects.count()
    billed_before = BillingEvent.objects.count()
    refused = create(api, django_capture_on_commit_callbacks, "Ana@EXAMPLE.com")
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert (error["type"], error["reason"]) == ("recipient_suppressed", "hard_bounce")
    assert error["suppressedAt"] == listed["createdAt"]
    run_worker()
    assert Invitation.objects.count() == 1
    assert DeliveryAttempt.objects.count() == attempts_before
    assert sum(fake_postmark.calls.values()) == calls_before
    assert BillingEvent.objects.count() == billed_before


def test_a_spam_complaint_suppresses_the_address_and_leaves_the_invitation_as_it_was(
    api, client, fake_postmark, run_worker, django_capture_on_commit_callbacks
):
    with time_machine.travel(T0, tick=False):
        invitation = sent_invitation(api, django_capture_on_commit_callbacks, run_worker)
        complaint = postmark_record("SpamComplaint", latest_attempt(invitation), Type="SpamComplaint", TypeCode=512)
        assert postmark_webhook(client, complaint).status_code == 200

    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.SENT
    suppression = Suppression.objects.get()
    assert (suppression.reason, suppression.recipient, suppression.lifted_at) == ("complaint", ANA, None)
    assert create(api, django_capture_on_commit_callbacks).json()["error"]["reason"] == "complaint"


def test_a_soft_bounce_suppresses_nothing_and_the_failure_says_a_retry_follows(
    api, client, fake_postmark, run_worker, django_capture_on_commit_callbacks
):
    soft = {"Type": "SoftBounce", "TypeCode": 4096, "Description": "Mailbox full", "Details": "smtp;452 4.2.2 full"}
    with time_machine.travel(T0, tick=False):
        invitation = sent_invitation(api, django_capture_on_commit_callbacks, run_worker)
        with django_capture_on_commit_callbacks(execute=True):
            assert postmark_webhook(client, postmark_record("Bounce", latest_attempt(invitation), **soft)).status_code
    assert not Suppression.objects.exists()
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.FAILED
    attempt = latest_attempt(invitation)
    assert attempt.status == DeliveryAttempt.Status.RETRYING
    failed = Event.objects.get(type="invitation.failed")
    assert failed.data["willRetry"] is True
    assert failed.data["nextRetryAt"].startswith(attempt.retry_at.strftime("%Y-%m-%dT%H:%M:%S"))
    assert create(api, django_capture_on_commit_callbacks, "ANA@example.com").status_code == 201


def test_a_hard_failure_tells_the_integrator_no_retry_follows(
    api, client, fake_postmark, run_worker, django_capture_on_commit_callbacks
):
    with time_machine.travel(T0, tick=False):
        invitation = sent_invitation(api, django_capture_on_commit_callbacks, run_worker)
        postmark_webhook(client, postmark_record("Bounce", latest_attempt(invitation), **HARD_BOUNCE))
    failed = Event.objects.get(type="invitation.failed")
    assert (failed.data["willRetry"], failed.data["nextRetryAt"]) == (False, None)
    assert failed.data["invitation"]["status"] == "failed"


def test_a_lifted_suppression_lets_the_next_send_go_and_is_audited_and_announced(
    api, client, fake_postmark, run_worker, django_capture_on_commit_callbacks
):
    with time_machine.travel(T0, tick=False):
        invitation = sent_invitation(api, django_capture_on_commit_callbacks, run_worker)
        postmark_webhook(client, postmark_record("Bounce", latest_attempt(invitation), **HARD_BOUNCE))
    suppression_id = Suppression.objects.get().public_id
    assert api.delete(f"/v1/suppressions/{suppression_id}").status_code == 204
    assert api.get(f"/v1/suppressions/{suppression_id}").status_code == 404
    assert api.delete(f"/v1/suppressions/{suppression_id}").status_code == 404
    assert api.get("/v1/suppressions").json()["data"] == []
    lifted = Suppression.objects.get()
    assert lifted.lifted_at is not None
    assert lifted.lifted_by_kind == "api_key"
    assert Event.objects.filter(type="suppression.deleted", subject=suppression_id).count() == 1

    response = create(api, django_capture_on_commit_callbacks)
    assert response.status_code == 201
    run_worker()
    assert Invitation.objects.get(token=response.json()["token"]).status == Invitation.Status.SENT


def test_a_suppression_is_per_mode_and_per_organization(
    api, sandbox_api, other_organization, django_capture_on_commit_callbacks
):
    from accounts.services import api_key_create
    from tests.conftest import TEST_ACTOR

    other = client_for(api_key_create(organization=other_organization, livemode=True, name="x", actor=TEST_ACTOR)[1])
    added = sandbox_api.post("/v1/suppressions", {"recipient": ANA, "description": "asked us"}, format="json")
    assert added.status_code == 201
    again = sandbox_api.post("/v1/suppressions", {"recipient": "ANA@example.com"}, format="json")
    assert (again.status_code, again.json()["id"]) == (200, added.json()["id"])
    assert added.json()["reason"] == "manual"

    assert create(sandbox_api, django_capture_on_commit_callbacks).json()["error"]["type"] == "recipient_suppressed"
    assert create(api, django_capture_on_commit_callbacks).status_code == 201
    assert create(other, django_capture_on_commit_callbacks).status_code == 201
    assert api.get("/v1/suppressions").json()["data"] == []
    assert other.get(f"/v1/suppressions/{added.json()['id']}").status_code == 404
    assert api.delete(f"/v1/suppressions/{added.json()['id']}").status_code == 404
    assert Suppression.objects.get().lifted_at is None


def test_a_manual_suppression_takes_phone_numbers_in_e164_and_refuses_what_is_neither(api):
    phone = api.post("/v1/suppressions", {"recipient": "+49 151 12345678"}, format="json")
    assert phone.status_code == 201
    assert (phone.json()["recipient"], phone.json()["channel"]) == ("+4915112345678", "sms")
    bad = api.post("/v1/suppressions", {"recipient": "not an address"}, format="json")
    assert (bad.status_code, bad.json()["error"]["type"]) == (422, "validation_error")
    assert api.post("/v1/suppressions", {"recipient": 5}, format="json").status_code == 400
    listed = api.get("/v1/suppressions", {"channel": "sms", "search": "4915"}).json()["data"]
    assert [row["recipient"] for row in listed] == ["+4915112345678"]
    assert api.get("/v1/suppressions", {"reason": "complaint"}).json()["data"] == []


def test_a_resend_to_a_suppressed_recipient_is_refused_after_the_cooldown_rule(api, organization):
    now = timezone.now()
    invitation = InvitationFactory(organization=organization, recipient=ANA, sent_at=now - timedelta(seconds=30))
    api.post("/v1/suppressions", {"recipient": ANA}, format="json")
    # Rule 8 (cooldown) is checked before rule 9 (suppressed).
    assert api.post(f"/v1/autodoc/invitations/{invitation.token}/resend").json()["error"]["type"] == "cooldown_active"
    Invitation.objects.filter(pk=invitation.pk).update(sent_at=now - timedelta(hours=1))
    refused = api.post(f"/v1/autodoc/invitations/{invitation.token}/resend")
    assert (refused.status_code, refused.json()["error"]["type"]) == (422, "recipient_suppressed")
    invitation.refresh_from_db()
    assert (invitation.status, invitation.delivery_attempts) == (Invitation.Status.SENT, 1)
    assert not DeliveryAttempt.objects.exists()


def test_a_suppression_added_while_a_send_is_queued_stops_it_before_the_provider(
    api, fake_postmark, run_worker, django_capture_on_commit_callbacks
):
    response = create(api, django_capture_on_commit_callbacks)
    api.post("/v1/suppressions", {"recipient": ANA}, format="json")
    run_worker()
    assert sum(fake_postmark.calls.values()) == 0
    invitation = Invitation.objects.get(token=response.json()["token"])
    assert invitation.status == Invitation.Status.FAILED
    assert "suppressed" in invitation.error_message
    assert latest_attempt(invitation).status == DeliveryAttempt.Status.FAILED
    assert not BillingEvent.objects.exists()


def test_an_sms_opt_out_refused_by_twilio_suppresses_the_number_as_unsubscribed(
    api, fake_twilio, run_worker, django_capture_on_commit_callbacks
):
    phone = "+4915112345678"
    fake_twilio.refused[phone] = 21610
    response = create(api, django_capture_on_commit_callbacks, phone, "sms")
    run_worker()
    invitation = Invitation.objects.get(token=response.json()["token"])
    assert invitation.status == Invitation.Status.FAILED
    assert "21610" in invitation.error_message
    suppression = Suppression.objects.get()
    assert (suppression.channel, suppression.recipient, suppression.reason) == ("sms", phone, "unsubscribed")
    assert create(api, django_capture_on_commit_callbacks, phone, "sms").json()["error"]["reason"] == "unsubscribed"


@pytest.mark.parametrize(("error_code", "suppressed"), [("30006", "invalid_number"), ("30003", None)])
def test_a_twilio_failure_callback_suppresses_only_a_number_that_cannot_take_sms(
    api, client, fake_twilio, run_worker, django_capture_on_commit_callbacks, error_code, suppressed
):
    invitation = sent_invitation(api, django_capture_on_commit_callbacks, run_worker, "+4915112345678", "sms")
    attempt = latest_attempt(invitation)
    with django_capture_on_commit_callbacks(execute=True):
        answer = callback(client, status(attempt.provider_message_id, "undelivered", error_code), attempt_id=attempt.pk)
    assert answer.status_code == 204
    assert list(Suppression.objects.values_list("reason", flat=True)) == ([suppressed] if suppressed else [])
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.FAILED
