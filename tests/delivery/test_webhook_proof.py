"""Nothing from outside moves an invitation without proof: the email tracking webhook refuses what
its sender cannot prove, matches events only to the send they are about, and answers malformed
bodies with a 400, never a 500. Real Postmark payloads through anymail's view at its mounted URL."""

import base64
import json
from datetime import timedelta

import pytest
import time_machine
from django.core.cache import cache

from delivery.models import DeliveryAttempt, ProviderEvent
from invitations.models import Invitation, InvitationEvent
from tests.delivery.conftest import POSTMARK_URL, WEBHOOK_AUTH, postmark_accepted
from tests.delivery.test_email_events import RECIPIENT, WEBHOOK_URL, bounce, delivery, metadata, open_, send_invitation
from tests.factories import InvitationFactory, OrganizationFactory
from tests.helpers import T0

pytestmark = pytest.mark.django_db


def post(client, body: bytes | str, *, auth: str | None = WEBHOOK_AUTH, url: str = WEBHOOK_URL, **extra):
    headers = {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(auth.encode()).decode()} if auth else {}
    return client.post(url, data=body, content_type="application/json", **headers, **extra)


@pytest.fixture
def sent(api, postmark, run_worker, django_capture_on_commit_callbacks) -> Invitation:
    with time_machine.travel(T0, tick=False):
        return send_invitation(api, postmark, run_worker, django_capture_on_commit_callbacks, "pm-1")


def assert_unchanged(invitation: Invitation) -> None:
    before = list(InvitationEvent.objects.filter(invitation=invitation).values_list("id", flat=True))
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.SENT
    assert invitation.error_message == ""
    assert list(InvitationEvent.objects.filter(invitation=invitation).values_list("id", flat=True)) == before


@pytest.mark.parametrize(
    "auth", [None, "hook:wrong", "hook", "other:s3cret"], ids=["unsigned", "wrong", "half", "user"]
)
def test_a_forged_bounce_without_the_webhook_secret_is_refused_and_changes_nothing(client, sent, auth):
    response = post(client, json.dumps(bounce("pm-1", metadata(sent))), auth=auth)
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_failed"
    assert_unchanged(sent)
    assert not ProviderEvent.objects.exists()


def test_without_a_configured_webhook_secret_every_event_is_refused(client, sent, settings):
    # anymail alone would only warn and accept the event.
    settings.ANYMAIL = {"POSTMARK_SERVER_TOKEN": "postmark-server-token"}
    for auth in (None, WEBHOOK_AUTH):
        response = post(client, json.dumps(open_("pm-1", metadata(sent))), auth=auth)
        assert response.status_code == 401
        assert "ANYMAIL_WEBHOOK_SECRET" in response.json()["error"]["message"]
    assert_unchanged(sent)


def test_only_the_configured_esps_tracking_webhook_is_mounted(client, sent):
    # EMAIL_BACKEND is Postmark's: SendGrid's and Mailgun's tracking URLs answer 404, signed or not.
    for url in ("/webhooks/anymail/sendgrid/tracking/", "/webhooks/anymail/mailgun/tracking/"):
        response = post(client, json.dumps([{"event": "bounce", "sg_message_id": "pm-1"}]), url=url)
        assert response.status_code == 404
    # Inbound mail is not handled at all, for any ESP.
    assert post(client, "{}", url="/webhooks/anymail/postmark/inbound/").status_code == 404
    assert_unchanged(sent)


def test_an_event_whose_message_id_differs_from_the_recorded_one_changes_nothing(client, sent):
    """The metadata names our attempt (and its invitation), but the provider gave that send another id."""
    response = post(client, json.dumps(bounce("pm-forged", metadata(sent))))
    assert response.status_code == 200
    assert_unchanged(sent)
    assert ProviderEvent.objects.get().outcome == ProviderEvent.Outcome.UNMATCHED


def test_an_event_naming_another_tenants_attempt_by_id_alone_changes_nothing(client, sent):
    """Attempt ids are sequential: without the invitation's token an echoed id matches nothing."""
    attempt = sent.delivery_attempts_set.get()
    DeliveryAttempt.objects.filter(pk=attempt.pk).update(provider_message_id="")  # still in flight
    other = InvitationFactory(organization=OrganizationFactory())
    for meta in ({"delivery_attempt_id": str(attempt.pk)}, {**metadata(sent), "invitation_token": other.token}):
        assert post(client, json.dumps(bounce("pm-new", meta, bounce_id=len(str(meta))))).status_code == 200
    assert_unchanged(sent)
    assert set(ProviderEvent.objects.values_list("outcome", flat=True)) == {ProviderEvent.Outcome.UNMATCHED}


def test_an_early_event_held_for_an_attempt_is_dropped_when_the_send_records_another_message_id(
    api, client, postmark, run_worker, django_capture_on_commit_callbacks
):
    """A bounce that arrives before our send recorded its id, naming an id the provider never gave it."""

    def postmark_api(request):
        response = post(client, json.dumps(bounce("pm-forged", json.loads(request.body)["Metadata"])))
        assert response.status_code == 200
        return 200, {}, json.dumps(postmark_accepted("pm-real", RECIPIENT))

    postmark.add_callback("POST", POSTMARK_URL, callback=postmark_api)
    with time_machine.travel(T0, tick=False), django_capture_on_commit_callbacks(execute=True):
        response = api.post("/v1/autodoc/invitations", {"channel": "email", "recipient": RECIPIENT}, format="json")
    with time_machine.travel(T0, tick=False):
        run_worker()
    invitation = Invitation.objects.get(token=response.json()["token"])
    assert invitation.status == Invitation.Status.SENT
    assert ProviderEvent.objects.get().outcome == ProviderEvent.Outcome.UNMATCHED


def test_a_provider_description_longer_than_a_kilobyte_is_cut(client, sent):
    event = bounce("pm-1", metadata(sent))
    event["Description"] = "x" * 5000
    event["Details"] = ""
    assert post(client, json.dumps(event)).status_code == 200
    sent.refresh_from_db()
    assert sent.status == Invitation.Status.FAILED
    assert len(ProviderEvent.objects.get().description) == 1024


MALFORMED = {
    "a JSON array": json.dumps([delivery("pm-1", {})]),
    "deep nesting": '{"RecordType": "Delivery", "Metadata": ' + "[" * 5000 + "]" * 5000 + "}",
    "a list for the record type": json.dumps({**delivery("pm-1", {}), "RecordType": ["Delivery"]}),
    "a number for the metadata": json.dumps({**delivery("pm-1", {}), "Metadata": 42}),
    "an object for the message id": json.dumps({**delivery("pm-1", {}), "MessageID": {"a": 1}}),
    "a NUL escape": json.dumps({**delivery("pm-1", {}), "Details": "smtp;250\u0000 OK"}),
    "a raw NUL byte": json.dumps(delivery("pm-1", {})).replace("smtp;250", "smtp;250\x00"),
    "a date that does not exist": json.dumps({**delivery("pm-1", {}), "DeliveredAt": "2026-02-30T09:00:05Z"}),
    "a date in year 1": json.dumps({**delivery("pm-1", {}), "DeliveredAt": "0001-01-01T00:00:00Z"}),
    "a date in year 9999": json.dumps({**delivery("pm-1", {}), "DeliveredAt": "9999-12-31T23:59:59Z"}),
    "broken UTF-8": b'{"RecordType": "Delivery", "MessageID": "\xff\xfe"}',
    "NaN": '{"RecordType": "Delivery", "MessageID": "pm-1", "ServerID": NaN}',
}


@pytest.mark.parametrize("body", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_tracking_body_is_a_400_in_the_envelope_and_changes_nothing(client, sent, body):
    response = post(client, body)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["type"] == "invalid_request"
    assert_unchanged(sent)
    assert not ProviderEvent.objects.exists()


def test_the_webhook_endpoints_are_throttled_per_ip(client, postmark, settings):
    settings.PROVIDER_WEBHOOK_RATE_PER_IP = "5/m"
    cache.clear()
    with time_machine.travel(T0, tick=False):
        answers = [post(client, json.dumps(delivery(f"pm-{n}", {}))).status_code for n in range(5)]
        assert answers == [200] * 5
        limited = post(client, json.dumps(delivery("pm-6", {})))
        assert limited.status_code == 429
        assert limited.json()["error"]["scope"] == "ip"
        # Every public webhook shares the bucket: the Twilio callback and dossier events too.
        assert client.post("/webhooks/twilio/status", data={}).status_code == 429
        assert client.post("/webhooks/dossier", data="{}", content_type="application/json").status_code == 429
        # Another client IP has its own bucket.
        assert post(client, json.dumps(delivery("pm-7", {})), REMOTE_ADDR="192.0.2.9").status_code == 200
    with time_machine.travel(T0 + timedelta(seconds=61), tick=False):
        assert post(client, json.dumps(delivery("pm-8", {}))).status_code == 200
