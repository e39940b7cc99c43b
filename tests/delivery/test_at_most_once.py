"""At most one send per attempt: an atomic claim, the attempt's id as the provider's idempotency
key, and jobs that do nothing once their attempt is accepted or superseded."""

import threading
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.core.management import call_command
from django.db import connections
from django.utils import timezone
from rq import SimpleWorker, Worker
from rq.job import Job

from accounts.principals import Actor
from billing.models import BillingEvent
from delivery import sms
from delivery.jobs import deliver_attempt
from delivery.models import DeliveryAttempt
from delivery.services import delivery_attempt_send
from invitations.models import Invitation, InvitationEvent
from invitations.services import invitation_create
from tests.delivery import recording_sms
from tests.factories import InvitationFactory

PHONE = "+4915112345678"


def results_of(queue) -> list[str]:
    ids = queue.finished_job_registry.get_job_ids()
    return sorted(Job.fetch(job_id, connection=queue.connection).return_value() for job_id in ids)


@pytest.mark.django_db
def test_the_same_job_enqueued_twice_sends_once(api, delivery_queue, run_worker, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/v1/autodoc/invitations", {"channel": "sms", "recipient": PHONE}, format="json")
    attempt = DeliveryAttempt.objects.get(invitation__token=response.json()["token"])
    delivery_queue.enqueue(deliver_attempt, attempt.pk)
    assert delivery_queue.count == 2

    assert run_worker() == 2

    assert len(sms.outbox) == 1
    assert results_of(delivery_queue) == ["accepted", "skipped"]
    attempt.refresh_from_db()
    assert (attempt.status, attempt.tries) == (DeliveryAttempt.Status.ACCEPTED, 1)
    assert BillingEvent.objects.count() == 1


@pytest.mark.django_db
def test_the_attempt_id_travels_with_the_email_as_its_idempotency_key(
    api, run_worker, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        body = {"channel": "email", "recipient": "ana@example.com"}
        response = api.post("/v1/autodoc/invitations", body, format="json")
    run_worker()
    attempt = DeliveryAttempt.objects.get(invitation__token=response.json()["token"])
    [message] = mail.outbox
    assert message.extra_headers["X-Delivery-Attempt"] == f"delivery-attempt-{attempt.pk}"
    assert f"delivery-attempt-{attempt.pk}" in message.extra_headers["Message-ID"]
    assert message.metadata["delivery_attempt_id"] == str(attempt.pk)
    assert attempt.provider_message_id == message.extra_headers["Message-ID"]


@pytest.mark.django_db(transaction=True)
def test_two_jobs_claiming_one_attempt_at_the_same_moment_send_it_once(organization, close_db_connections):
    invitation = invitation_create(
        organization=organization, livemode=True, channel="sms", recipient=PHONE, actor=Actor.system("test")
    )
    attempt = DeliveryAttempt.objects.get(invitation=invitation)
    connections.close_all()
    barrier = threading.Barrier(4)
    outcomes = []

    def job():
        try:
            barrier.wait()
            outcomes.append(delivery_attempt_send(attempt_id=attempt.pk))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=job) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(sms.outbox) == 1
    assert sum(outcome is not None for outcome in outcomes) == 1
    attempt.refresh_from_db()
    assert (attempt.status, attempt.tries) == (DeliveryAttempt.Status.ACCEPTED, 1)
    assert InvitationEvent.objects.filter(invitation=invitation, reason="provider_accepted").count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "crash, provider_calls",
    [
        # Killed after claiming, before calling the provider: the takeover makes the only call.
        ("before-call", 1),
        # Killed after the provider took the message, before it was recorded: the takeover calls
        # again with the same idempotency key, and a provider that honours it delivers once.
        ("after-call", 2),
    ],
)
def test_a_worker_killed_after_claiming_leads_to_one_send(
    settings, organization, redis_conn, delivery_queue, close_db_connections, crash, provider_calls
):
    settings.SMS_BACKEND = "tests.delivery.recording_sms.RecordingSmsBackend"
    invitation = invitation_create(
        organization=organization, livemode=True, channel="sms", recipient=PHONE, actor=Actor.system("test")
    )
    attempt = DeliveryAttempt.objects.get(invitation=invitation)
    key = f"delivery-attempt-{attempt.pk}".encode()
    redis_conn.set(recording_sms.CRASH_KEY, crash)

    # rq's forking worker, as `rqworker` runs it: the job's work horse SIGKILLs itself mid-send.
    connections.close_all()
    Worker([delivery_queue], connection=redis_conn).work(burst=True)

    attempt.refresh_from_db()
    assert (attempt.status, attempt.tries) == (DeliveryAttempt.Status.SENDING, 1)
    claimed_at = attempt.claimed_at

    # rq retries the dead job a minute later: the attempt is still claimed, so it does nothing.
    with time_machine.travel(claimed_at + timedelta(seconds=61), tick=False):
        SimpleWorker([delivery_queue], connection=redis_conn).work(burst=True, with_scheduler=True)
    attempt.refresh_from_db()
    assert attempt.status == DeliveryAttempt.Status.SENDING

    # Past the sending timeout the sweeper takes it over.
    later = claimed_at + timedelta(seconds=settings.DELIVERY_SENDING_TIMEOUT_SECONDS + 1)
    with time_machine.travel(later, tick=False):
        call_command("requeue_deliveries", stdout=open("/dev/null", "w"))
        SimpleWorker([delivery_queue], connection=redis_conn).work(burst=True, with_scheduler=True)

    attempt.refresh_from_db()
    assert (attempt.status, attempt.tries) == (DeliveryAttempt.Status.ACCEPTED, 2)
    assert redis_conn.lrange(recording_sms.CALLS_KEY, 0, -1) == [key] * provider_calls
    assert redis_conn.smembers(recording_sms.DELIVERED_KEY) == {key}
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.SENT
    assert InvitationEvent.objects.filter(invitation=invitation, reason="provider_accepted").count() == 1
    assert BillingEvent.objects.filter(source_id=f"attempt:{attempt.pk}").count() == 1


@pytest.mark.django_db
def test_a_job_for_a_superseded_attempt_sends_nothing(organization, delivery_queue, run_worker):
    invitation = InvitationFactory(
        organization=organization,
        status=Invitation.Status.PENDING,
        sent_at=None,
        delivery_attempts=2,
        channel="sms",
        recipient=PHONE,
    )
    older, newer = (
        DeliveryAttempt.objects.create(invitation=invitation, number=n, channel="sms", recipient=PHONE, livemode=True)
        for n in (1, 2)
    )
    delivery_queue.enqueue(deliver_attempt, older.pk)
    delivery_queue.enqueue(deliver_attempt, newer.pk)

    run_worker()

    older.refresh_from_db()
    newer.refresh_from_db()
    assert (older.status, newer.status) == (DeliveryAttempt.Status.CANCELED, DeliveryAttempt.Status.ACCEPTED)
    assert len(sms.outbox) == 1
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.SENT


@pytest.mark.django_db
def test_a_retry_is_not_sent_once_the_recipient_has_started(organization, delivery_queue, run_worker):
    invitation = InvitationFactory(
        organization=organization, status=Invitation.Status.STARTED, channel="sms", recipient=PHONE
    )
    attempt = DeliveryAttempt.objects.create(
        invitation=invitation,
        number=1,
        channel="sms",
        recipient=PHONE,
        livemode=True,
        status=DeliveryAttempt.Status.RETRYING,
    )
    delivery_queue.enqueue(deliver_attempt, attempt.pk)

    run_worker()

    attempt.refresh_from_db()
    assert attempt.status == DeliveryAttempt.Status.CANCELED
    assert sms.outbox == []
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.STARTED
    assert not BillingEvent.objects.exists()


@pytest.mark.django_db
def test_a_job_for_an_accepted_attempt_does_nothing(organization, delivery_queue, run_worker):
    invitation = InvitationFactory(organization=organization, channel="sms", recipient=PHONE)
    attempt = DeliveryAttempt.objects.create(
        invitation=invitation,
        number=1,
        channel="sms",
        recipient=PHONE,
        livemode=True,
        status=DeliveryAttempt.Status.ACCEPTED,
        tries=1,
        accepted_at=timezone.now(),
    )
    delivery_queue.enqueue(deliver_attempt, attempt.pk)
    run_worker()
    assert results_of(delivery_queue) == ["skipped"]
    assert sms.outbox == []
