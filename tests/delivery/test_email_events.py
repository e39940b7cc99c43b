"""anymail tracking events move the invitation: real Postmark payloads through anymail's webhook
view at its mounted URL, and AnymailTrackingEvents through anymail's real `tracking` signal."""

import base64
import json
from datetime import timedelta

import pytest
import time_machine
from anymail.signals import AnymailTrackingEvent, tracking
from rq.registry import ScheduledJobRegistry

from billing.models import BillingEvent
from delivery.models import DeliveryAttempt, ProviderEvent
from invitations.models import Invitation, InvitationEvent
from tests.delivery.conftest import POSTMARK_URL, WEBHOOK_AUTH, postmark_accepted
from tests.helpers import T0

pytestmark = pytest.mark.django_db

WEBHOOK_URL = "/webhooks/anymail/postmark/tracking/"
RECIPIENT = "ana@example.com"


def send_invitation(api, postmark, run_worker, captured, message_id: str) -> Invitation:
    postmark.add("POST", POSTMARK_URL, json=postmark_accepted(message_id, RECIPIENT))
    with captured(execute=True):
        response = api.post("/v1/autodoc/invitations", {"channel": "email", "recipient": RECIPIENT}, format="json")
    run_worker()
    invitation = Invitation.objects.get(token=response.json()["token"])
    assert invitation.status == Invitation.Status.SENT
    return invitation


def resend(api, postmark, run_worker, captured, invitation, message_id: str) -> None:
    postmark.add("POST", POSTMARK_URL, json=postmark_accepted(message_id, RECIPIENT))
    with captured(execute=True):
        assert api.post(f"/v1/autodoc/invitations/{invitation.token}/resend").status_code == 200
    run_worker()


def metadata(invitation, number=None) -> dict:
    attempt = invitation.delivery_attempts_set.get(number=number or invitation.delivery_attempts)
    return {"delivery_attempt_id": str(attempt.pk), "invitation_token": invitation.token}


def delivery(message_id, meta, at="2026-03-02T09:00:05Z"):
    return {
        "RecordType": "Delivery",
        "ServerID": 23,
        "MessageStream": "outbound",
        "MessageID": message_id,
        "Recipient": RECIPIENT,
        "Tag": "invitation",
        "DeliveredAt": at,
        "Details": "smtp;250 2.0.0 OK",
        "Metadata": meta,
    }


def open_(message_id, meta, at="2026-03-02T09:00:30Z"):
    return {
        "RecordType": "Open",
        "MessageStream": "outbound",
        "FirstOpen": True,
        "Platform": "Desktop",
        "UserAgent": "Mozilla/5.0",
        "ReadSeconds": 5,
        "MessageID": message_id,
        "Metadata": meta,
        "ReceivedAt": at,
        "Tag": "invitation",
        "Recipient": RECIPIENT,
    }


def bounce(message_id, meta, bounce_id=4323372036854775807, kind="HardBounce"):
    return {
        "RecordType": "Bounce",
        "ID": bounce_id,
        "Type": kind,
        "TypeCode": 1,
        "Name": "Hard bounce",
        "Tag": "invitation",
        "MessageID": message_id,
        "Metadata": meta,
        "ServerID": 23,
        "MessageStream": "outbound",
        "Description": "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        "Email": RECIPIENT,
        "From": "invitations@example.com",
        "BouncedAt": "2026-03-02T09:00:06Z",
        "Inactive": True,
        "CanActivate": True,
        "Subject": "Verify your identity",
    }


def post_webhook(client, payload, auth=WEBHOOK_AUTH):
    return client.post(
        WEBHOOK_URL,
        data=json.dumps(payload),
        content_type="application/json",
        HTTP_AUTHORIZATION="Basic " + base64.b64encode(auth.encode()).decode(),
    )


def reasons(invitation) -> list[str]:
    return list(InvitationEvent.objects.filter(invitation=invitation).values_list("reason", flat=True))


def test_delivered_then_opened_through_the_postmark_webhook_move_the_invitation_forward(
    api, client, postmark, run_worker, django_capture_on_commit_callbacks
):
    with time_machine.travel(T0, tick=False) as clock:
        invitation = send_invitation(api, postmark, run_worker, django_capture_on_commit_callbacks, "pm-1")
        clock.shift(5)
        assert post_webhook(client, delivery("pm-1", metadata(invitation))).status_code == 200
        clock.shift(25)
        assert post_webhook(client, open_("pm-1", metadata(invitation))).status_code == 200

    body = api.get(f"/v1/autodoc/invitations/{invitation.token}").json()
    assert body["status"] == "opened"
    assert (body["deliveredAt"], body["openedAt"]) == ("2026-03-02T09:00:05Z", "2026-03-02T09:00:30Z")
    assert reasons(invitation) == ["created", "provider_accepted", "delivered", "opened"]
    event = InvitationEvent.objects.get(invitation=invitation, reason="delivered")
    assert (event.actor_kind, event.actor_label) == ("system", "system:anymail:postmark")


def test_an_open_before_the_delivery_ends_opened_and_the_late_delivery_only_fills_delivered_at(
    api, client, postmark, run_worker, django_capture_on_commit_callbacks
):
    with time_machine.travel(T0, tick=False) as clock:
        invitation = send_invitation(api, postmark, run_worker, django_capture_on_commit_callbacks, "pm-1")
        clock.shift(30)
        post_webhook(client, open_("pm-1", metadata(invitation)))
        clock.shift(30)
        post_webhook(client, delivery("pm-1", metadata(invitation)))

    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.OPENED
    assert invitation.opened_at == T0 + timedelta(seconds=30)
    assert invitation.delivered_at == T0 + timedelta(seconds=60)
    late = InvitationEvent.objects.get(invitation=invitation, reason="delivered_late")
    assert (late.from_status, late.to_status) == ("opened", "opened")


def test_a_delivery_and_a_bounce_of_an_older_attempt_after_a_resend_cannot_undo_the_newer_send(
    api, client, postmark, run_worker, django_capture_on_commit_callbacks
):
    with time_machine.travel(T0, tick=False) as clock:
        invitation = send_invitation(api, postmark, run_worker, django_capture_on_commit_callbacks, "pm-old")
        old_meta = metadata(invitation)
        clock.shift(timedelta(minutes=3))
        resend(api, postmark, run_worker, django_capture_on_commit_callbacks, invitation, "pm-new")
        invitation.refresh_from_db()
        assert (invitation.status, invitation.delivery_attempts) == (Invitation.Status.SENT, 2)

        assert post_webhook(client, delivery("pm-old", old_meta)).status_code == 200
        assert post_webhook(client, bounce("pm-old", old_meta)).status_code == 200
        invitation.refresh_from_db()
        assert (invitation.status, invitation.delivered_at, invitation.error_message) == (
            Invitation.Status.SENT,
            None,
            "",
        )

        post_webhook(client, delivery("pm-new", metadata(invitation)))

    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.DELIVERED
    outcomes = dict(ProviderEvent.objects.values_list("message_id", "outcome").filter(provider_status="delivered"))
    assert outcomes == {"pm-old": "ignored", "pm-new": "applied"}
    assert ProviderEvent.objects.get(provider_status="bounced").outcome == "ignored"


def test_an_older_attempts_delivery_arriving_while_the_resend_is_pending_leaves_it_pending(
    api, client, postmark, run_worker, django_capture_on_commit_callbacks
):
    with time_machine.travel(T0, tick=False) as clock:
        invitation = send_invitation(api, postmark, run_worker, django_capture_on_commit_callbacks, "pm-old")
        old_meta = metadata(invitation)
        clock.shift(timedelta(minutes=3))
        with django_capture_on_commit_callbacks(execute=True):
            api.post(f"/v1/autodoc/invitations/{invitation.token}/resend")
        post_webhook(client, delivery("pm-old", old_meta))

    invitation.refresh_from_db()
    assert (invitation.status, invitation.delivered_at) == (Invitation.Status.PENDING, None)


def test_a_hard_bounce_fails_the_invitation_for_good_with_the_reason_and_no_retry(
    api, client, postmark, run_worker, delivery_queue, django_capture_on_commit_callbacks
):
    with time_machine.travel(T0, tick=False) as clock:
        invitation = send_invitation(api, postmark, run_worker, django_capture_on_commit_callbacks, "pm-1")
        with django_capture_on_commit_callbacks(execute=True):
            assert post_webhook(client, bounce("pm-1", metadata(invitation))).status_code == 200
        clock.shift(timedelta(hours=2))
        assert run_worker(with_scheduler=True) == 0

    body = api.get(f"/v1/autodoc/invitations/{invitation.token}").json()
    assert body["status"] == "failed"
    assert "bounced" in body["errorMessage"]
    assert "mailbox not found" in body["errorMessage"]
    assert reasons(invitation)[-1] == "delivery_failed_permanently"
    assert DeliveryAttempt.objects.get(invitation=invitation).status == DeliveryAttempt.Status.FAILED
    assert ScheduledJobRegistry(queue=delivery_queue).get_job_ids() == []
    assert len(postmark.calls) == 1


def test_a_redelivered_webhook_is_applied_once(api, client, postmark, run_worker, django_capture_on_commit_callbacks):
    with time_machine.travel(T0, tick=False):
        invitation = send_invitation(api, postmark, run_worker, django_capture_on_commit_callbacks, "pm-1")
        meta = metadata(invitation)
        for _ in range(2):
            # Postmark gives delivery events no id: the same payload must still count once.
            assert post_webhook(client, delivery("pm-1", meta)).status_code == 200
            assert post_webhook(client, bounce("pm-1", meta, bounce_id=77)).status_code == 200

    assert ProviderEvent.objects.count() == 2
    assert reasons(invitation) == ["created", "provider_accepted", "delivered"]


def test_an_esp_failure_after_acceptance_is_retried_automatically_and_billed_once(
    api, postmark, run_worker, delivery_queue, django_capture_on_commit_callbacks
):
    with time_machine.travel(T0, tick=False) as clock:
        invitation = send_invitation(api, postmark, run_worker, django_capture_on_commit_callbacks, "pm-1")
        failed = AnymailTrackingEvent(
            event_type="failed",
            event_id="evt-failed-1",
            message_id="pm-1",
            description="Template rendering failed",
            metadata=metadata(invitation),
            recipient=RECIPIENT,
        )
        with django_capture_on_commit_callbacks(execute=True):
            tracking.send(sender=object, event=failed, esp_name="Postmark")

        body = api.get(f"/v1/autodoc/invitations/{invitation.token}").json()
        assert body["status"] == "failed"
        assert "Template rendering failed" in body["errorMessage"]
        assert len(ScheduledJobRegistry(queue=delivery_queue).get_job_ids()) == 1

        postmark.add("POST", POSTMARK_URL, json=postmark_accepted("pm-2", RECIPIENT))
        clock.shift(61)
        run_worker(with_scheduler=True)

    invitation.refresh_from_db()
    assert (invitation.status, invitation.delivery_attempts, invitation.error_message) == (
        Invitation.Status.SENT,
        1,
        "",
    )
    assert reasons(invitation) == ["created", "provider_accepted", "delivery_failed", "retry_accepted"]
    attempt = DeliveryAttempt.objects.get(invitation=invitation)
    assert (attempt.status, attempt.tries, attempt.provider_message_id) == (DeliveryAttempt.Status.ACCEPTED, 2, "pm-2")
    assert BillingEvent.objects.count() == 1


def test_events_through_the_real_tracking_signal_move_the_invitation(
    api, postmark, run_worker, django_capture_on_commit_callbacks
):
    with time_machine.travel(T0, tick=False):
        invitation = send_invitation(api, postmark, run_worker, django_capture_on_commit_callbacks, "pm-1")
        for event_type in ("queued", "delivered", "clicked"):
            event = AnymailTrackingEvent(
                event_type=event_type, event_id=f"evt-{event_type}", message_id="pm-1", recipient=RECIPIENT
            )
            tracking.send(sender=object, event=event, esp_name="SendGrid")

    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.OPENED
    assert reasons(invitation) == ["created", "provider_accepted", "delivered", "opened"]
    assert set(ProviderEvent.objects.values_list("provider", "outcome")) == {
        ("anymail:sendgrid", "ignored"),
        ("anymail:sendgrid", "applied"),
    }


def test_an_event_that_outruns_the_acceptance_is_applied_once_the_acceptance_is_recorded(
    api, client, postmark, run_worker, django_capture_on_commit_callbacks
):
    """Postmark's delivery webhook arrives while our worker is still waiting for its API answer."""

    def postmark_api(request):
        # Postmark echoes the metadata our send gave it: the attempt id and the invitation token.
        response = post_webhook(client, delivery("pm-fast", json.loads(request.body)["Metadata"]))
        assert response.status_code == 200
        return 200, {}, json.dumps(postmark_accepted("pm-fast", RECIPIENT))

    postmark.add_callback("POST", POSTMARK_URL, callback=postmark_api)
    with time_machine.travel(T0, tick=False), django_capture_on_commit_callbacks(execute=True):
        response = api.post("/v1/autodoc/invitations", {"channel": "email", "recipient": RECIPIENT}, format="json")
    with time_machine.travel(T0, tick=False):
        run_worker()

    invitation = Invitation.objects.get(token=response.json()["token"])
    assert invitation.status == Invitation.Status.DELIVERED
    assert reasons(invitation) == ["created", "provider_accepted", "delivered"]
    assert ProviderEvent.objects.get().outcome == "applied"


def test_a_webhook_with_wrong_credentials_is_refused_in_the_error_envelope(
    api, client, postmark, run_worker, django_capture_on_commit_callbacks
):
    with time_machine.travel(T0, tick=False):
        invitation = send_invitation(api, postmark, run_worker, django_capture_on_commit_callbacks, "pm-1")
    response = post_webhook(client, delivery("pm-1", metadata(invitation)), auth="hook:wrong")
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_failed"
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.SENT
    assert not ProviderEvent.objects.exists()


def test_an_event_for_an_unknown_message_is_kept_and_changes_nothing(client, postmark):
    response = post_webhook(client, delivery("pm-unknown", {}))
    assert response.status_code == 200
    assert ProviderEvent.objects.get().outcome == "unmatched"


def test_a_malformed_webhook_body_is_a_400_in_the_envelope(client, postmark):
    response = client.post(
        WEBHOOK_URL,
        data="{not json",
        content_type="application/json",
        HTTP_AUTHORIZATION="Basic " + base64.b64encode(WEBHOOK_AUTH.encode()).decode(),
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request"


def test_the_webhook_needs_no_csrf_token(api, postmark, run_worker, django_capture_on_commit_callbacks):
    from django.test import Client

    with time_machine.travel(T0, tick=False):
        invitation = send_invitation(api, postmark, run_worker, django_capture_on_commit_callbacks, "pm-1")
        response = post_webhook(Client(enforce_csrf_checks=True), delivery("pm-1", metadata(invitation)))
    assert response.status_code == 200
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.DELIVERED
