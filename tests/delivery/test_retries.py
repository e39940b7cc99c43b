"""Transient provider failures are retried by rq's own Retry on the scheduler; permanent ones are not.

Email goes through anymail's Postmark backend and SMS through the twilio client; only the
providers' HTTP APIs are stood in for. Jobs run on a real rq worker with its scheduler on Redis.
"""

from datetime import timedelta

import pytest
import requests
import time_machine
from django.core import mail
from rq.registry import ScheduledJobRegistry

from billing.models import BillingEvent
from delivery.models import DeliveryAttempt
from delivery.services import retry_policy
from invitations.models import Invitation, InvitationEvent
from tests.delivery.conftest import POSTMARK_URL, TWILIO_MESSAGES_URL, postmark_accepted, twilio_message
from tests.helpers import T0, created

pytestmark = pytest.mark.django_db


def show(api, token):
    return api.get(f"/v1/autodoc/invitations/{token}").json()


def audit(token):
    return [
        (e.from_status, e.to_status, e.reason)
        for e in InvitationEvent.objects.filter(invitation__token=token).order_by("created_at", "id")
    ]


def scheduled_jobs(delivery_queue):
    return ScheduledJobRegistry(queue=delivery_queue).get_job_ids()


def test_a_transient_email_failure_shows_failed_then_the_scheduled_retry_is_sent_and_billed_once(
    api, postmark, run_worker, delivery_queue, django_capture_on_commit_callbacks
):
    postmark.add("POST", POSTMARK_URL, status=503, json={"ErrorCode": 500, "Message": "Service unavailable"})
    postmark.add("POST", POSTMARK_URL, json=postmark_accepted("pm-accepted-1"))
    with time_machine.travel(T0, tick=False) as clock:
        token = created(api, django_capture_on_commit_callbacks, channel="email", recipient="ana@example.com").token
        run_worker(with_scheduler=True)

        body = show(api, token)
        assert body["status"] == "failed"
        assert "503" in body["errorMessage"]
        assert body["deliveryAttempts"] == 1
        assert len(scheduled_jobs(delivery_queue)) == 1

        # The first backoff (60 s) has not passed: the scheduler leaves the retry waiting.
        clock.shift(59)
        run_worker(with_scheduler=True)
        assert len(postmark.calls) == 1

        clock.shift(2)
        run_worker(with_scheduler=True)
        body = show(api, token)

    assert body["status"] == "sent"
    assert body["errorMessage"] is None
    assert body["sentAt"] == "2026-03-02T09:01:01Z"
    assert body["deliveryAttempts"] == 1
    assert len(postmark.calls) == 2
    attempt = DeliveryAttempt.objects.get(invitation__token=token)
    assert (attempt.status, attempt.tries, attempt.provider_message_id) == (
        DeliveryAttempt.Status.ACCEPTED,
        2,
        "pm-accepted-1",
    )
    billed = list(BillingEvent.objects.values_list("event_type", "source_id"))
    assert billed == [("send.email", f"attempt:{attempt.pk}")]
    assert audit(token) == [
        ("", "pending", "created"),
        ("pending", "failed", "delivery_failed"),
        ("failed", "sent", "retry_accepted"),
    ]


def test_an_unreachable_email_provider_is_a_transient_failure(
    api, postmark, run_worker, delivery_queue, django_capture_on_commit_callbacks
):
    postmark.add("POST", POSTMARK_URL, body=requests.ConnectionError("Connection refused"))
    with time_machine.travel(T0, tick=False):
        token = created(api, django_capture_on_commit_callbacks, channel="email", recipient="ana@example.com").token
        run_worker(with_scheduler=True)
    body = show(api, token)
    assert body["status"] == "failed"
    assert "Connection refused" in body["errorMessage"]
    assert len(scheduled_jobs(delivery_queue)) == 1
    assert DeliveryAttempt.objects.get(invitation__token=token).status == DeliveryAttempt.Status.RETRYING


def test_a_permanent_email_refusal_is_failed_for_good_and_never_retried(
    api, postmark, run_worker, delivery_queue, django_capture_on_commit_callbacks
):
    postmark.add(
        "POST", POSTMARK_URL, status=422, json={"ErrorCode": 300, "Message": "Invalid 'To' address: 'ana@example.com'."}
    )
    with time_machine.travel(T0, tick=False) as clock:
        token = created(api, django_capture_on_commit_callbacks, channel="email", recipient="ana@example.com").token
        run_worker(with_scheduler=True)
        assert scheduled_jobs(delivery_queue) == []
        clock.shift(timedelta(hours=2))
        assert run_worker(with_scheduler=True) == 0

    assert len(postmark.calls) == 1
    body = show(api, token)
    assert body["status"] == "failed"
    assert "Recipient refused" in body["errorMessage"]
    assert DeliveryAttempt.objects.get(invitation__token=token).status == DeliveryAttempt.Status.FAILED
    assert audit(token)[-1] == ("pending", "failed", "delivery_failed_permanently")
    assert not BillingEvent.objects.exists()


def test_when_the_last_retry_fails_the_invitation_stays_failed_saying_retries_ran_out(
    api, postmark, run_worker, settings, django_capture_on_commit_callbacks
):
    settings.DELIVERY_RETRY_INTERVALS = [10, 20]
    for _ in range(4):
        postmark.add("POST", POSTMARK_URL, status=500, json={"ErrorCode": 500, "Message": "Internal error"})
    with time_machine.travel(T0, tick=False) as clock:
        token = created(api, django_capture_on_commit_callbacks, channel="email", recipient="ana@example.com").token
        run_worker(with_scheduler=True)
        clock.shift(10)
        run_worker(with_scheduler=True)
        clock.shift(20)
        run_worker(with_scheduler=True)
        clock.shift(timedelta(hours=1))
        run_worker(with_scheduler=True)

    assert len(postmark.calls) == 3
    body = show(api, token)
    assert body["status"] == "failed"
    assert body["errorMessage"].endswith("(retries exhausted)")
    assert body["deliveryAttempts"] == 1
    attempt = DeliveryAttempt.objects.get(invitation__token=token)
    assert (attempt.status, attempt.tries) == (DeliveryAttempt.Status.FAILED, 3)
    assert [reason for _, _, reason in audit(token)] == [
        "created",
        "delivery_failed",
        "delivery_failed",
        "delivery_failed_permanently",
    ]


def test_a_transient_sms_failure_is_retried_and_sent(
    api, twilio, run_worker, delivery_queue, django_capture_on_commit_callbacks
):
    twilio.add("POST", TWILIO_MESSAGES_URL, status=503, json={"code": 20503, "message": "Service unavailable"})
    twilio.add("POST", TWILIO_MESSAGES_URL, status=201, json=twilio_message("SM0001"))
    with time_machine.travel(T0, tick=False) as clock:
        token = created(api, django_capture_on_commit_callbacks, channel="sms", recipient="+49 151 12345678").token
        run_worker(with_scheduler=True)
        assert show(api, token)["status"] == "failed"
        clock.shift(61)
        run_worker(with_scheduler=True)
    body = show(api, token)
    assert (body["status"], body["deliveryAttempts"], body["errorMessage"]) == ("sent", 1, None)
    assert DeliveryAttempt.objects.get(invitation__token=token).provider_message_id == "SM0001"
    assert BillingEvent.objects.get().event_type == "send.sms"


def test_a_refused_phone_number_is_a_permanent_sms_failure(
    api, twilio, run_worker, delivery_queue, django_capture_on_commit_callbacks
):
    twilio.add(
        "POST",
        TWILIO_MESSAGES_URL,
        status=400,
        json={"code": 21211, "message": "The 'To' number +4915112345678 is not a valid phone number.", "status": 400},
    )
    with time_machine.travel(T0, tick=False):
        token = created(api, django_capture_on_commit_callbacks, channel="sms", recipient="+4915112345678").token
        run_worker(with_scheduler=True)
    body = show(api, token)
    assert body["status"] == "failed"
    assert "21211" in body["errorMessage"]
    assert scheduled_jobs(delivery_queue) == []
    assert audit(token)[-1][2] == "delivery_failed_permanently"


def test_retry_intervals_come_from_the_setting(settings):
    settings.DELIVERY_RETRY_INTERVALS = [5, 15, 45]
    policy = retry_policy()
    assert (policy.max, policy.intervals) == (3, [5, 15, 45])
    # Re-enqueued after two calls: one retry left, with the wait that was still ahead.
    policy = retry_policy(tries_done=2)
    assert (policy.max, policy.intervals) == (1, [45])
    assert retry_policy(tries_done=3) is None


def test_the_default_retry_schedule_spans_about_an_hour(settings):
    policy = retry_policy()
    assert policy.max == 5
    assert sum(policy.intervals) == 3960  # 66 minutes


def test_an_inline_send_without_redis_is_not_lost_when_the_provider_fails(
    settings, organization, django_capture_on_commit_callbacks
):
    """The embedded default (no Redis): a failed inline send stays in the outbox for the sweeper."""
    from accounts.principals import Actor
    from invitations.services import invitation_create

    settings.DELIVERY_INLINE = True
    settings.EMAIL_BACKEND = "tests.delivery.test_retries.RefusingEmailBackend"
    with django_capture_on_commit_callbacks(execute=True):
        invitation = invitation_create(
            organization=organization,
            livemode=True,
            channel="email",
            recipient="ana@example.com",
            actor=Actor.system("test"),
        )
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.FAILED
    assert DeliveryAttempt.objects.get(invitation=invitation).status == DeliveryAttempt.Status.RETRYING
    assert mail.outbox == []


class RefusingEmailBackend:
    """An SMTP server that is not listening."""

    def __init__(self, **kwargs):
        pass

    def send_messages(self, messages):
        raise ConnectionRefusedError(111, "Connection refused")
