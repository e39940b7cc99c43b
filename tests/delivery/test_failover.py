"""Provider failover: a send a provider fails before taking it goes at once to the next one in
EMAIL_BACKENDS (SMS_BACKENDS); a refusal about the recipient, or a try whose outcome is unknown,
never does; a provider failing PROVIDER_FAILURE_THRESHOLD sends in a row rests PROVIDER_REST_SECONDS,
then one send probes it. Through anymail's real Postmark and SendGrid backends to fakes of their APIs
on 127.0.0.1, a real rq worker, the state in the real Redis cache."""

from datetime import timedelta

import pytest
import time_machine

from bench.fake_providers import FakePostmark, FakeSendGrid
from billing.models import BillingEvent
from delivery import failover
from delivery.models import DeliveryAttempt
from invitations.models import Invitation
from invitations.services import invitation_resend_bulk
from ops.metrics import PROVIDER_SENDS
from tests.conftest import TEST_ACTOR
from tests.delivery.test_batches import sent
from tests.helpers import CREATE_URL, T0

pytestmark = pytest.mark.django_db

POSTMARK = "anymail.backends.postmark.EmailBackend"
SENDGRID = "anymail.backends.sendgrid.EmailBackend"


@pytest.fixture
def providers(settings):
    postmark, sendgrid = FakePostmark(latency=0), FakeSendGrid(latency=0, api_key="sendgrid-key")
    settings.EMAIL_BACKEND = POSTMARK
    settings.EMAIL_BACKENDS = [POSTMARK, SENDGRID]
    settings.ANYMAIL = {
        "POSTMARK_SERVER_TOKEN": "postmark-server-token",
        "POSTMARK_API_URL": postmark.url + "/",
        "SENDGRID_API_KEY": "sendgrid-key",
        "SENDGRID_API_URL": sendgrid.url + "/v3/",
        "WEBHOOK_SECRET": "hook:s3cret",
    }
    settings.PROVIDER_FAILURE_THRESHOLD = 3
    settings.PROVIDER_REST_SECONDS = 60
    forget_rests("email")
    yield postmark, sendgrid
    postmark.stop()
    sendgrid.stop()


def forget_rests(channel: str) -> None:
    """Start from providers that take sends: their failure counts and rests from earlier tests gone
    (only those keys: the cache is left as it is)."""
    for provider in failover.providers(channel):
        failover.record_success(provider)


def sends(provider: str, outcome: str) -> float:
    return PROVIDER_SENDS.labels(channel="email", provider=provider, outcome=outcome)._value.get()


def create(api, captured, recipient: str) -> Invitation:
    with captured(execute=True):
        answer = api.post(CREATE_URL, {"channel": "email", "recipient": recipient}, format="json")
    assert answer.status_code == 201, answer.json()
    return Invitation.objects.get(token=answer.json()["token"])


def test_postmark_down_hands_each_send_to_sendgrid_at_once_and_then_rests(
    api, providers, run_worker, django_capture_on_commit_callbacks
):
    postmark, sendgrid = providers
    postmark.down = True
    failed_before, taken_before = sends("postmark", "failed"), sends("sendgrid", "accepted")
    with time_machine.travel(T0, tick=True) as clock:
        invitations = [create(api, django_capture_on_commit_callbacks, f"p{n}@example.com") for n in range(5)]
        with django_capture_on_commit_callbacks(execute=True):
            assert run_worker() == 5
        # Three 503s in a row: Postmark rests; the two sends after that went to SendGrid alone.
        assert postmark.requests == 3
        assert failover.resting_until(failover.Provider("email", POSTMARK)) is not None
        attempts = DeliveryAttempt.objects.order_by("pk")
        assert {(a.status, a.provider, a.tries) for a in attempts} == {(DeliveryAttempt.Status.ACCEPTED, "sendgrid", 1)}
        assert sorted(m["To"] for m in sendgrid.messages) == sorted(i.recipient for i in invitations)
        assert all(m["CustomArgs"]["delivery_attempt_id"] for m in sendgrid.messages)
        assert set(Invitation.objects.values_list("status", flat=True)) == {Invitation.Status.SENT}
        assert BillingEvent.objects.count() == 5
        assert (sends("postmark", "failed") - failed_before, sends("sendgrid", "accepted") - taken_before) == (3, 5)
        # One attempt, its tries naming their providers: Postmark's failure is on the timeline.
        tries = [
            [
                (e["type"], e["description"][:41])
                for e in api.get(f"{CREATE_URL}/{i.token}/attempts").json()["data"][0]["events"]
            ]
            for i in invitations
        ]
        handed = ("handed_over", "postmark failed the send before taking it")
        assert sorted(tries, key=len) == [[]] * 2 + [[handed]] * 3  # lone sends go newest first

        # Back up, and the rest over: the next send probes Postmark, which takes it; the rest ends.
        postmark.down = False
        clock.shift(timedelta(seconds=61))
        create(api, django_capture_on_commit_callbacks, "after@example.com")
        with django_capture_on_commit_callbacks(execute=True):
            run_worker()
    assert DeliveryAttempt.objects.get(recipient="after@example.com").provider == "postmark"
    assert failover.resting_until(failover.Provider("email", POSTMARK)) is None


def test_a_batch_postmark_fails_whole_goes_to_sendgrid_one_by_one(
    providers, organization, run_worker, django_capture_on_commit_callbacks
):
    postmark, sendgrid = providers
    postmark.down = True
    invitations = sent(organization, 4)
    with time_machine.travel(T0, tick=True):
        with django_capture_on_commit_callbacks(execute=True):
            invitation_resend_bulk(invitation_ids=[i.pk for i in invitations], actor=TEST_ACTOR)
        with django_capture_on_commit_callbacks(execute=True):
            run_worker()
    assert postmark.requests == 1  # one batch call, failed whole
    assert len(sendgrid.messages) == 4
    assert set(DeliveryAttempt.objects.values_list("provider", "status")) == {
        ("sendgrid", DeliveryAttempt.Status.ACCEPTED)
    }


def test_a_refusal_about_the_recipient_never_fails_over(api, providers, run_worker, django_capture_on_commit_callbacks):
    postmark, sendgrid = providers
    postmark.inactive.add("gone@example.com")
    with time_machine.travel(T0, tick=True):
        invitation = create(api, django_capture_on_commit_callbacks, "gone@example.com")
        with django_capture_on_commit_callbacks(execute=True):
            run_worker()
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.FAILED
    assert not sendgrid.messages
    assert DeliveryAttempt.objects.get().provider == "postmark"


def test_a_try_whose_outcome_is_unknown_is_never_handed_on_and_is_settled_where_it_went(
    api, providers, run_worker, django_capture_on_commit_callbacks
):
    postmark, sendgrid = providers
    postmark.drop_answers = True  # Postmark takes it; the answer never comes
    with time_machine.travel(T0, tick=False) as clock:
        invitation = create(api, django_capture_on_commit_callbacks, "unsure@example.com")
        with django_capture_on_commit_callbacks(execute=True):
            run_worker()
        attempt = DeliveryAttempt.objects.get()
        assert (attempt.status, attempt.provider) == (DeliveryAttempt.Status.RETRYING, "postmark")
        assert not sendgrid.messages
        postmark.drop_answers = False
        clock.shift(timedelta(seconds=61))
        with django_capture_on_commit_callbacks(execute=True):
            run_worker(with_scheduler=True)
    attempt.refresh_from_db()
    assert (attempt.status, attempt.provider) == (DeliveryAttempt.Status.ACCEPTED, "postmark")
    assert len(postmark.messages) == 1 and not sendgrid.messages  # found by its metadata: sent once
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.SENT


def test_every_provider_failing_retries_with_backoff(api, providers, run_worker, django_capture_on_commit_callbacks):
    postmark, sendgrid = providers
    postmark.down = sendgrid.down = True
    with time_machine.travel(T0, tick=True):
        invitation = create(api, django_capture_on_commit_callbacks, "nobody@example.com")
        with django_capture_on_commit_callbacks(execute=True):
            run_worker()
    attempt = DeliveryAttempt.objects.get()
    assert (attempt.status, attempt.tries, attempt.provider) == (DeliveryAttempt.Status.RETRYING, 1, "sendgrid")
    assert attempt.retry_at is not None
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.FAILED


def test_the_metrics_say_which_provider_rests(providers, client, settings):
    settings.DEBUG = True  # /metrics open, as on the embedded default
    rest = failover.Provider("email", POSTMARK)
    for _ in range(settings.PROVIDER_FAILURE_THRESHOLD):
        failover.record_failure(rest)
    body = client.get("/metrics").content.decode()
    assert 'invitations_provider_resting{channel="email",provider="postmark"} 1.0' in body
    assert 'invitations_provider_resting{channel="email",provider="sendgrid"} 0.0' in body
    assert "invitations_provider_sends_total" in body


def test_an_sms_provider_down_hands_the_send_to_the_next_one(
    api, settings, fake_twilio, run_worker, django_capture_on_commit_callbacks
):
    from delivery import sms

    settings.SMS_BACKENDS = ["delivery.providers.twilio.TwilioSmsBackend", "delivery.sms.LocmemSmsBackend"]
    fake_twilio.down = True
    forget_rests("sms")
    with time_machine.travel(T0, tick=True):
        with django_capture_on_commit_callbacks(execute=True):
            answer = api.post(CREATE_URL, {"channel": "sms", "recipient": "+4915112345678"}, format="json")
        with django_capture_on_commit_callbacks(execute=True):
            run_worker()
    attempt = DeliveryAttempt.objects.get(invitation__token=answer.json()["token"])
    assert (attempt.status, attempt.provider) == (DeliveryAttempt.Status.ACCEPTED, "locmem")
    assert fake_twilio.requests == 1 and [m.to for m in sms.outbox] == ["+4915112345678"]
    timeline = api.get(f"{CREATE_URL}/{answer.json()['token']}/attempts").json()["data"]
    assert timeline[0]["provider"] == "locmem"


def test_sendgrids_tracking_webhook_is_matched_to_the_sends_it_took(
    api, client, providers, run_worker, django_capture_on_commit_callbacks
):
    import base64
    import json

    postmark, sendgrid = providers
    postmark.down = True
    with time_machine.travel(T0, tick=True):
        invitation = create(api, django_capture_on_commit_callbacks, "sg@example.com")
        with django_capture_on_commit_callbacks(execute=True):
            run_worker()
        attempt = DeliveryAttempt.objects.get()
        assert attempt.provider == "sendgrid"
        [message] = sendgrid.messages
        event = {
            "email": "sg@example.com",
            "timestamp": int(T0.timestamp()) + 5,
            "event": "delivered",
            "sg_event_id": "sg-event-1",
            "sg_message_id": "sendgrid-internal.filter0001",
            **message["CustomArgs"],  # SendGrid echoes the custom args: anymail_id, our metadata
        }
        answer = client.post(
            "/webhooks/anymail/sendgrid/tracking/",
            data=json.dumps([event]),
            content_type="application/json",
            HTTP_AUTHORIZATION="Basic " + base64.b64encode(b"hook:s3cret").decode(),
        )
    assert answer.status_code == 200
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.DELIVERED
    assert attempt.provider_message_id == message["CustomArgs"]["anymail_id"]


def test_a_call_past_its_deadline_is_retried_later_rather_than_handed_on(
    api, providers, settings, run_worker, django_capture_on_commit_callbacks
):
    postmark, sendgrid = providers
    postmark.down, postmark.latency = True, 1.2  # a slow 503
    # Half the delivery job's timeout is the whole call's deadline: 1 s here.
    settings.RQ_QUEUES = {**settings.RQ_QUEUES, "delivery": {**settings.RQ_QUEUES["delivery"], "DEFAULT_TIMEOUT": 2}}
    with time_machine.travel(T0, tick=True):
        create(api, django_capture_on_commit_callbacks, "late@example.com")
        with django_capture_on_commit_callbacks(execute=True):
            run_worker()
    attempt = DeliveryAttempt.objects.get()
    assert (attempt.status, attempt.provider) == (DeliveryAttempt.Status.RETRYING, "postmark")
    assert not sendgrid.messages and sendgrid.requests == 0
