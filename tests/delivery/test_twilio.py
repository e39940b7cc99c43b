"""The Twilio SMS backend (through the real twilio client; only Twilio's HTTP API is stood in for)
and Twilio's status callback, authenticated by X-Twilio-Signature."""

import time
from dataclasses import replace
from datetime import timedelta
from urllib.parse import parse_qs

import pytest
import requests
import time_machine
from django.utils import timezone
from twilio.request_validator import RequestValidator

from bench.fake_providers import FakeTwilio
from billing.models import BillingEvent
from delivery import channels
from delivery.models import DeliveryAttempt, ProviderEvent
from delivery.services.sending import delivery_attempt_claim, delivery_attempt_send
from delivery.sms import PermanentSmsError, SmsMessage, TransientSmsError, TwilioSmsBackend
from invitations.models import Invitation, InvitationEvent
from tests.delivery.conftest import TWILIO_MESSAGES_URL, TWILIO_SID, TWILIO_TOKEN, twilio_message
from tests.helpers import T0

pytestmark = pytest.mark.django_db

PHONE = "+4915112345678"
CALLBACK_PATH = "/webhooks/twilio/status"


def send_sms_invitation(api, twilio, run_worker, captured, sid="SM0001") -> Invitation:
    twilio.add("POST", TWILIO_MESSAGES_URL, status=201, json=twilio_message(sid))
    with captured(execute=True):
        response = api.post("/v1/autodoc/invitations", {"channel": "sms", "recipient": PHONE}, format="json")
    run_worker()
    return Invitation.objects.get(token=response.json()["token"])


def callback(client, params: dict, *, attempt_id: int, token: str = TWILIO_TOKEN, signature: str | None = None):
    """Post a status callback as Twilio does: form-encoded, signed over the full URL and params."""
    path = f"{CALLBACK_PATH}?attempt={attempt_id}"
    url = "https://invitations.example.com" + path
    if signature is None:
        signature = RequestValidator(token).compute_signature(url, params)
    return client.post(path, data=params, HTTP_X_TWILIO_SIGNATURE=signature)


def status(sid: str, message_status: str, error_code: str | None = None) -> dict:
    params = {
        "MessageSid": sid,
        "SmsSid": sid,
        "AccountSid": TWILIO_SID,
        "MessageStatus": message_status,
        "SmsStatus": message_status,
        "To": PHONE,
        "From": "AutoDoc",
        "ApiVersion": "2010-04-01",
    }
    if error_code:
        params["ErrorCode"] = error_code
    return params


def reasons(invitation) -> list[str]:
    return list(InvitationEvent.objects.filter(invitation=invitation).values_list("reason", flat=True))


def test_the_twilio_backend_sends_with_a_status_callback_naming_the_attempt(
    api, twilio, run_worker, django_capture_on_commit_callbacks
):
    with time_machine.travel(T0, tick=False):
        invitation = send_sms_invitation(api, twilio, run_worker, django_capture_on_commit_callbacks)

    attempt = DeliveryAttempt.objects.get(invitation=invitation)
    [call] = twilio.calls
    sent = {key: values[0] for key, values in parse_qs(call.request.body).items()}
    assert sent["To"] == PHONE
    assert sent["From"] == "AutoDoc"
    assert invitation.link in sent["Body"]
    assert sent["StatusCallback"] == f"https://invitations.example.com{CALLBACK_PATH}?attempt={attempt.pk}"
    assert call.request.headers["Authorization"].startswith("Basic ")
    assert (attempt.status, attempt.provider_message_id) == (DeliveryAttempt.Status.ACCEPTED, "SM0001")
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.SENT
    assert BillingEvent.objects.get().event_type == "send.sms"


def test_twilio_errors_are_sorted_into_transient_and_permanent(twilio):
    backend = TwilioSmsBackend()
    message = SmsMessage(to=PHONE, body="hi", sender="AutoDoc", idempotency_key="delivery-attempt-1")
    twilio.add("POST", TWILIO_MESSAGES_URL, status=400, json={"code": 21211, "message": "Invalid 'To'", "status": 400})
    twilio.add("POST", TWILIO_MESSAGES_URL, status=429, json={"code": 20429, "message": "Too Many Requests"})
    twilio.add("POST", TWILIO_MESSAGES_URL, status=500, json={"code": 20500, "message": "Internal Server Error"})
    twilio.add("POST", TWILIO_MESSAGES_URL, status=401, json={"code": 20003, "message": "Authenticate"})
    twilio.add("POST", TWILIO_MESSAGES_URL, body=requests.ConnectTimeout("timed out"))

    with pytest.raises(PermanentSmsError, match="21211"):
        backend.send(message)
    for _ in range(4):
        with pytest.raises(TransientSmsError):
            backend.send(message)


def test_status_callbacks_move_the_invitation_delivered_then_read(
    api, client, twilio, run_worker, django_capture_on_commit_callbacks
):
    with time_machine.travel(T0, tick=False):
        invitation = send_sms_invitation(api, twilio, run_worker, django_capture_on_commit_callbacks)
        attempt = DeliveryAttempt.objects.get(invitation=invitation)
        for message_status in ("queued", "sent", "delivered", "read"):
            response = callback(client, status("SM0001", message_status), attempt_id=attempt.pk)
            assert response.status_code == 204

    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.OPENED
    assert reasons(invitation) == ["created", "provider_accepted", "delivered", "opened"]
    assert ProviderEvent.objects.filter(provider="twilio").count() == 4


def test_a_status_callback_with_a_forged_signature_is_refused_and_changes_nothing(
    api, client, twilio, run_worker, django_capture_on_commit_callbacks
):
    with time_machine.travel(T0, tick=False):
        invitation = send_sms_invitation(api, twilio, run_worker, django_capture_on_commit_callbacks)
    attempt = DeliveryAttempt.objects.get(invitation=invitation)

    forged = callback(client, status("SM0001", "delivered"), attempt_id=attempt.pk, token="not-the-auth-token")
    missing = callback(client, status("SM0001", "delivered"), attempt_id=attempt.pk, signature="")
    # A valid signature for other parameters does not cover these ones.
    signed_for_other = RequestValidator(TWILIO_TOKEN).compute_signature(
        f"https://invitations.example.com{CALLBACK_PATH}?attempt={attempt.pk}", status("SM0001", "sent")
    )
    replayed = callback(client, status("SM0001", "delivered"), attempt_id=attempt.pk, signature=signed_for_other)

    for response in (forged, missing, replayed):
        assert response.status_code == 401
        assert response.json()["error"]["type"] == "authentication_failed"
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.SENT
    assert not ProviderEvent.objects.exists()


def test_an_undelivered_sms_to_an_unreachable_handset_fails_and_is_retried(
    api, client, twilio, run_worker, django_capture_on_commit_callbacks
):
    with time_machine.travel(T0, tick=False) as clock:
        invitation = send_sms_invitation(api, twilio, run_worker, django_capture_on_commit_callbacks)
        attempt = DeliveryAttempt.objects.get(invitation=invitation)
        with django_capture_on_commit_callbacks(execute=True):
            callback(client, status("SM0001", "undelivered", "30003"), attempt_id=attempt.pk)
        invitation.refresh_from_db()
        assert (invitation.status, invitation.error_message) == (
            Invitation.Status.FAILED,
            "SMS undelivered (Twilio error 30003)",
        )

        twilio.add("POST", TWILIO_MESSAGES_URL, status=201, json=twilio_message("SM0002"))
        clock.shift(61)
        run_worker(with_scheduler=True)

    invitation.refresh_from_db()
    assert (invitation.status, invitation.delivery_attempts) == (Invitation.Status.SENT, 1)
    assert reasons(invitation)[-2:] == ["delivery_failed", "retry_accepted"]
    assert BillingEvent.objects.count() == 1


def test_a_failed_sms_to_an_unknown_number_fails_for_good(
    api, client, twilio, run_worker, django_capture_on_commit_callbacks
):
    with time_machine.travel(T0, tick=False) as clock:
        invitation = send_sms_invitation(api, twilio, run_worker, django_capture_on_commit_callbacks)
        attempt = DeliveryAttempt.objects.get(invitation=invitation)
        with django_capture_on_commit_callbacks(execute=True):
            callback(client, status("SM0001", "failed", "30005"), attempt_id=attempt.pk)
        clock.shift(3600)
        assert run_worker(with_scheduler=True) == 0

    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.FAILED
    assert reasons(invitation)[-1] == "delivery_failed_permanently"
    assert len(twilio.calls) == 1


def test_a_late_undelivered_after_delivered_does_not_move_the_invitation_back(
    api, client, twilio, run_worker, django_capture_on_commit_callbacks
):
    with time_machine.travel(T0, tick=False):
        invitation = send_sms_invitation(api, twilio, run_worker, django_capture_on_commit_callbacks)
        attempt = DeliveryAttempt.objects.get(invitation=invitation)
        callback(client, status("SM0001", "delivered"), attempt_id=attempt.pk)
        callback(client, status("SM0001", "undelivered", "30003"), attempt_id=attempt.pk)
        callback(client, status("SM0001", "delivered"), attempt_id=attempt.pk)  # Twilio retried the request

    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.DELIVERED
    assert reasons(invitation) == ["created", "provider_accepted", "delivered"]
    assert ProviderEvent.objects.count() == 2


def test_a_callback_without_its_message_fields_is_a_400_in_the_envelope(client, twilio):
    response = callback(client, {"AccountSid": TWILIO_SID}, attempt_id=1)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request"


@pytest.mark.parametrize(
    "params",
    [
        {"MessageSid": "SM\x000001", "MessageStatus": "delivered"},
        {"MessageSid": "SM0001", "MessageStatus": "delivered\x00"},
        {"MessageSid": "SM" + "1" * 300, "MessageStatus": "delivered"},
        {"MessageSid": "SM0001", "MessageStatus": "failed", "ErrorCode": "3" * 100},
    ],
    ids=["nul sid", "nul status", "long sid", "long error code"],
)
def test_a_signed_callback_with_malformed_fields_is_a_400_and_changes_nothing(
    api, client, twilio, run_worker, django_capture_on_commit_callbacks, params
):
    invitation = send_sms_invitation(api, twilio, run_worker, django_capture_on_commit_callbacks)
    attempt = invitation.delivery_attempts_set.get()
    response = callback(client, params, attempt_id=attempt.pk)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request"
    assert not ProviderEvent.objects.exists()


def test_the_callback_endpoint_only_takes_post(client, twilio):
    response = client.get(CALLBACK_PATH)
    assert response.status_code == 405
    assert response.json()["error"]["type"] == "method_not_allowed"


def test_the_status_callback_needs_no_csrf_token(api, twilio, run_worker, django_capture_on_commit_callbacks):
    from django.test import Client

    with time_machine.travel(T0, tick=False):
        invitation = send_sms_invitation(api, twilio, run_worker, django_capture_on_commit_callbacks)
        attempt = DeliveryAttempt.objects.get(invitation=invitation)
        response = callback(Client(enforce_csrf_checks=True), status("SM0001", "delivered"), attempt_id=attempt.pk)
    assert response.status_code == 204


def test_with_twilio_api_base_url_the_backend_calls_a_twilio_compatible_api_there(settings):
    """Over real HTTP to a Messages API on 127.0.0.1 that checks Twilio's Basic auth and form."""
    provider = FakeTwilio(0, account_sid=TWILIO_SID, auth_token=TWILIO_TOKEN)
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = TWILIO_SID, TWILIO_TOKEN
    settings.TWILIO_API_BASE_URL = provider.url
    callback = "https://x.example/cb?attempt=7"
    message = SmsMessage(to=PHONE, body="Your link", sender="AutoDoc", idempotency_key="7", status_callback=callback)
    try:
        sid = TwilioSmsBackend().send(message)
        TwilioSmsBackend().send(message)
        connections = provider.connections
        settings.TWILIO_AUTH_TOKEN = "wrong"
        with pytest.raises(TransientSmsError, match=r"Twilio refused the message \(HTTP 401, error 20003\)"):
            TwilioSmsBackend().send(message)
    finally:
        provider.stop()
    # The second send went over the first one's connection; the new credentials made a new client.
    assert connections == 1 and provider.connections == 2
    form = provider.messages[0]
    assert len(provider.messages) == 2
    assert form == {
        "To": PHONE,
        "Body": "Your link",
        "From": "AutoDoc",
        "StatusCallback": "https://x.example/cb?attempt=7",
    }
    assert sid.startswith("SM") and provider.calls == {callback: 2}  # the refused call sent nothing


def test_a_proxy_named_in_the_environment_carries_the_calls(settings, monkeypatch):
    """The environment's proxy settings are read once per client, not on every call, and still used."""
    provider = FakeTwilio(0, account_sid=TWILIO_SID, auth_token=TWILIO_TOKEN)
    proxy = FakeTwilio(0, account_sid=TWILIO_SID, auth_token=TWILIO_TOKEN)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = TWILIO_SID, TWILIO_TOKEN
    # A new base URL, so a new client reads the environment.
    settings.TWILIO_API_BASE_URL = provider.url.replace("127.0.0.1", "localhost")
    message = SmsMessage(to=PHONE, body="Your link", sender="AutoDoc", idempotency_key="8")
    try:
        with pytest.raises(PermanentSmsError, match="HTTP 404"):
            TwilioSmsBackend().send(message)
    finally:
        provider.stop()
        proxy.stop()
    # The proxy got the call (for the whole URL, which it does not serve); the API itself saw nothing.
    assert proxy.connections == 1 and provider.connections == 0


def test_a_retried_send_takes_the_message_an_earlier_try_created_instead_of_sending_it_again(settings):
    """Twilio takes no idempotency key: a try whose answer was lost (its worker killed) must not
    become a second SMS when the attempt is tried again."""
    provider = FakeTwilio(0, account_sid=TWILIO_SID, auth_token=TWILIO_TOKEN)
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = TWILIO_SID, TWILIO_TOKEN
    settings.TWILIO_API_BASE_URL = provider.url
    lost_try_began = timezone.now()
    sends = iter(range(100))

    def message(body: str, *, retried: bool, to: str = PHONE) -> SmsMessage:
        # Each send names its own attempt, as the service's status callbacks do.
        return SmsMessage(
            to=to,
            body=body,
            sender="AutoDoc",
            idempotency_key="7",
            status_callback=f"https://x.example/cb?attempt={next(sends)}",
            earlier_try_since=lost_try_began if retried else None,
        )

    try:
        first = TwilioSmsBackend().send(message("Your link 1", retried=False))
        TwilioSmsBackend().send(message("Your link 1", retried=False, to="+14155550100"))
        again = TwilioSmsBackend().send(message("Your link 1", retried=True))
        # Another body (another invitation's link) to the same number is not this send's message.
        other = TwilioSmsBackend().send(message("Your link 2", retried=True))
        # Nor is a message created before the lost try began.
        old = message("Your link 1", retried=True)
        later = TwilioSmsBackend().send(replace(old, earlier_try_since=lost_try_began + timedelta(minutes=5)))
    finally:
        provider.stop()
    assert again == first
    assert [form["Body"] for form in provider.messages] == ["Your link 1", "Your link 1", "Your link 2", "Your link 1"]
    assert len({first, other, later}) == 3


def test_an_sms_whose_worker_was_lost_after_twilio_took_it_is_not_sent_again(api, settings):
    """The worker claimed the attempt and Twilio created the message, then the worker died before
    recording it. Past the lease, the next job finds that message and records it: one SMS."""
    provider = FakeTwilio(0, account_sid=TWILIO_SID, auth_token=TWILIO_TOKEN)
    settings.SMS_BACKEND = "delivery.providers.twilio.TwilioSmsBackend"
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = TWILIO_SID, TWILIO_TOKEN
    settings.TWILIO_API_BASE_URL = provider.url
    try:
        with time_machine.travel(T0, tick=False):
            response = api.post("/v1/autodoc/invitations", {"channel": "sms", "recipient": PHONE}, format="json")
            attempt = DeliveryAttempt.objects.get(invitation__token=response.json()["token"])
            # The lost worker's try: claimed, and the message created; nothing recorded after.
            channels.send(delivery_attempt_claim(attempt_id=attempt.pk))
        with time_machine.travel(T0 + timedelta(seconds=settings.DELIVERY_SENDING_TIMEOUT_SECONDS + 1), tick=False):
            delivery_attempt_send(attempt_id=attempt.pk)
    finally:
        provider.stop()
    attempt.refresh_from_db()
    [resource] = provider.resources
    assert len(provider.messages) == 1
    assert (attempt.status, attempt.tries, attempt.provider_message_id) == (
        DeliveryAttempt.Status.ACCEPTED,
        2,
        resource["sid"],
    )
    assert attempt.invitation.status == Invitation.Status.SENT
    assert BillingEvent.objects.count() == 1


def test_an_sms_whose_request_timed_out_after_twilio_took_it_is_looked_up_not_sent_again(api, settings):
    """The request reached Twilio, which made the message but answered after SMS_TIMEOUT_SECONDS:
    the try failed without knowing. The retry asks Twilio first and records that message: one SMS."""
    provider = FakeTwilio(2.0, account_sid=TWILIO_SID, auth_token=TWILIO_TOKEN)
    settings.SMS_BACKEND = "delivery.providers.twilio.TwilioSmsBackend"
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = TWILIO_SID, TWILIO_TOKEN
    settings.TWILIO_API_BASE_URL = provider.url
    settings.SMS_TIMEOUT_SECONDS = 1
    try:
        response = api.post("/v1/autodoc/invitations", {"channel": "sms", "recipient": PHONE}, format="json")
        attempt = DeliveryAttempt.objects.get(invitation__token=response.json()["token"])
        with pytest.raises(channels.DeliveryError) as failed:
            delivery_attempt_send(attempt_id=attempt.pk)
        assert failed.value.unsure and not failed.value.permanent
        attempt.refresh_from_db()
        assert attempt.status == DeliveryAttempt.Status.RETRYING and attempt.unsure_since == attempt.claimed_at
        assert attempt.error_message == "Twilio did not answer within 1 s."
        deadline = timezone.now() + timedelta(seconds=10)
        while not provider.messages and timezone.now() < deadline:  # Twilio finishes making it
            time.sleep(0.1)
        provider.latency = 0
        delivery_attempt_send(attempt_id=attempt.pk)
    finally:
        provider.stop()
    attempt.refresh_from_db()
    [resource] = provider.resources
    assert len(provider.messages) == 1 and provider.lookups == 1
    assert (attempt.status, attempt.tries, attempt.provider_message_id) == (
        DeliveryAttempt.Status.ACCEPTED,
        2,
        resource["sid"],
    )
    assert BillingEvent.objects.count() == 1


def test_a_connection_that_never_opened_is_retried_without_a_lookup(api, settings):
    settings.SMS_BACKEND = "delivery.providers.twilio.TwilioSmsBackend"
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = TWILIO_SID, TWILIO_TOKEN
    settings.TWILIO_API_BASE_URL = "http://127.0.0.1:9"  # nothing listens: refused at once
    response = api.post("/v1/autodoc/invitations", {"channel": "sms", "recipient": PHONE}, format="json")
    attempt = DeliveryAttempt.objects.get(invitation__token=response.json()["token"])
    with pytest.raises(channels.DeliveryError):
        delivery_attempt_send(attempt_id=attempt.pk)
    attempt.refresh_from_db()
    assert attempt.status == DeliveryAttempt.Status.RETRYING and attempt.unsure_since is None  # Twilio never saw it
    assert attempt.error_message == "Twilio could not be reached: Connection refused."
