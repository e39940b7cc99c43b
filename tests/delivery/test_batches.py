"""Many sends at once (a bulk resend) go DELIVERY_BATCH_SIZE to a job: claimed in one statement,
their provider calls overlapping, their acceptances written together, with exactly the effects of
one-by-one sends. Through anymail's Postmark backend to a Postmark-compatible server on 127.0.0.1
and a real rq worker."""

import uuid
from datetime import timedelta

import django_rq
import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rq.registry import ScheduledJobRegistry

from billing.models import BillingEvent
from delivery.jobs import deliver_attempts
from delivery.models import DeliveryAttempt
from invitations.models import Invitation, InvitationEvent
from invitations.services import invitation_resend_bulk
from suppressions.models import Suppression
from tests.conftest import TEST_ACTOR, queued_attempt_ids
from tests.factories import InvitationFactory
from tests.helpers import T0
from webhooks.models import Event

pytestmark = pytest.mark.django_db


def sent(organization, count: int) -> list[Invitation]:
    return [
        InvitationFactory(
            organization=organization,
            recipient=f"p{n}@example.com",
            created_at=T0 - timedelta(hours=1),
            sent_at=T0 - timedelta(minutes=10),
        )
        for n in range(count)
    ]


def test_a_bulk_resend_goes_a_batch_to_a_job_with_the_effects_of_single_sends(
    organization, fake_postmark, run_worker, delivery_queue, settings, django_capture_on_commit_callbacks
):
    settings.DELIVERY_BATCH_SIZE = 20
    invitations = sent(organization, 45)
    with time_machine.travel(T0, tick=True):
        with django_capture_on_commit_callbacks(execute=True):
            invitation_resend_bulk(invitation_ids=[i.pk for i in invitations], actor=TEST_ACTOR)
        assert [len(job.args[0]) for job in delivery_queue.get_jobs()] == [20, 20, 5]
        with django_capture_on_commit_callbacks(execute=True):
            assert run_worker() == 3

    assert set(Invitation.objects.values_list("status", "delivery_attempts")) == {(Invitation.Status.SENT, 2)}
    assert set(DeliveryAttempt.objects.values_list("status", "tries")) == {(DeliveryAttempt.Status.ACCEPTED, 1)}
    assert sorted(message["To"] for message in fake_postmark.messages) == sorted(i.recipient for i in invitations)
    assert BillingEvent.objects.count() == 45
    accepted = InvitationEvent.objects.filter(reason="provider_accepted")
    assert accepted.count() == 45 and all(row.message.startswith("Provider message id ") for row in accepted)
    assert Event.objects.filter(type="invitation.sent").count() == 45


def test_a_batch_costs_thirteen_statements_however_many_it_sends(
    organization, fake_postmark, settings, django_capture_on_commit_callbacks
):
    settings.DELIVERY_BATCH_SIZE = 30
    invitations = sent(organization, 30)
    with time_machine.travel(T0, tick=True):
        with django_capture_on_commit_callbacks(execute=True):
            invitation_resend_bulk(invitation_ids=[i.pk for i in invitations], actor=TEST_ACTOR)
        ids = list(DeliveryAttempt.objects.order_by("pk").values_list("pk", flat=True))
        with CaptureQueriesContext(connection) as queries:
            result = deliver_attempts(ids)
        assert result == {"claimed": 30, "skipped": 0}
        # One by one, the same 30 sends took 11 statements each. (The savepoints are the test's
        # own transaction around the service's.)
        statements = [q["sql"] for q in queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]
        assert len(statements) <= 13, [sql[:80] for sql in statements]
        assert deliver_attempts(ids) == {"claimed": 0, "skipped": 30}
    assert Invitation.objects.filter(status=Invitation.Status.SENT).count() == 30
    assert sorted(BillingEvent.objects.values_list("source_id", flat=True)) == sorted(f"attempt:{pk}" for pk in ids)


def test_a_batchs_emails_go_in_one_call_to_postmarks_batch_api_each_its_own_message(
    organization, fake_postmark, run_worker, settings, django_capture_on_commit_callbacks
):
    settings.DELIVERY_BATCH_SIZE = 20
    invitations = sent(organization, 45)
    with time_machine.travel(T0, tick=True):
        with django_capture_on_commit_callbacks(execute=True):
            invitation_resend_bulk(invitation_ids=[i.pk for i in invitations], actor=TEST_ACTOR)
        with django_capture_on_commit_callbacks(execute=True):
            run_worker()
    assert fake_postmark.batch_calls == 3
    attempts = {a.recipient: a for a in DeliveryAttempt.objects.select_related("invitation")}
    assert len(fake_postmark.messages) == 45
    for message in fake_postmark.messages:
        attempt = attempts[message["To"]]
        headers = {h["Name"]: h["Value"] for h in message["Headers"]}
        assert headers["X-Delivery-Attempt"] == f"delivery-attempt-{attempt.pk}"
        assert message["Metadata"] == {
            "delivery_attempt_id": str(attempt.pk),
            "invitation_token": attempt.invitation.token,
        }
        assert attempt.invitation.link in message["TextBody"]
        # Each attempt holds the message id Postmark gave its own message.
        assert attempt.provider_message_id == str(uuid.UUID(fake_postmark.answers[headers["X-Delivery-Attempt"]]))


@pytest.mark.parametrize("count", [1, 4], ids=["alone", "in a batch"])
def test_an_address_postmark_calls_inactive_fails_for_good_and_is_suppressed_the_others_go(
    count, organization, fake_postmark, run_worker, django_capture_on_commit_callbacks
):
    invitations = sent(organization, count)
    refused = invitations[-1]
    fake_postmark.inactive.add(refused.recipient)
    with time_machine.travel(T0, tick=True):
        with django_capture_on_commit_callbacks(execute=True):
            invitation_resend_bulk(invitation_ids=[i.pk for i in invitations], actor=TEST_ACTOR)
        with django_capture_on_commit_callbacks(execute=True):
            run_worker()
    assert fake_postmark.batch_calls == (count > 1)
    attempt = DeliveryAttempt.objects.get(invitation=refused)
    assert attempt.status == DeliveryAttempt.Status.FAILED and attempt.retry_at is None
    assert attempt.error_message.startswith("Recipient refused by the email provider: ")
    assert "marked as inactive" in attempt.error_message
    assert Invitation.objects.get(pk=refused.pk).status == Invitation.Status.FAILED
    [suppression] = Suppression.objects.all()
    assert (suppression.recipient, suppression.reason) == (refused.recipient, Suppression.Reason.HARD_BOUNCE)
    assert Invitation.objects.filter(status=Invitation.Status.SENT).count() == count - 1
    assert BillingEvent.objects.count() == count - 1


def test_a_batch_call_that_fails_whole_gives_each_send_its_retry_job_and_each_goes_once(
    organization, fake_postmark, run_worker, delivery_queue, django_capture_on_commit_callbacks
):
    invitations = sent(organization, 5)
    fake_postmark.fail_once.add(invitations[2].recipient)
    with time_machine.travel(T0, tick=False) as clock:
        with django_capture_on_commit_callbacks(execute=True):
            invitation_resend_bulk(invitation_ids=[i.pk for i in invitations], actor=TEST_ACTOR)
        with django_capture_on_commit_callbacks(execute=True):
            run_worker()
        assert set(DeliveryAttempt.objects.values_list("status", "tries")) == {(DeliveryAttempt.Status.RETRYING, 1)}
        assert set(Invitation.objects.values_list("status", flat=True)) == {Invitation.Status.FAILED}
        retries = [delivery_queue.fetch_job(i) for i in ScheduledJobRegistry(queue=delivery_queue).get_job_ids()]
        assert sorted((job.func_name, job.args) for job in retries) == sorted(
            ("delivery.jobs.deliver_attempt", (pk,)) for pk in DeliveryAttempt.objects.values_list("pk", flat=True)
        )
        clock.shift(timedelta(seconds=61))
        with django_capture_on_commit_callbacks(execute=True):
            run_worker(with_scheduler=True)
    assert set(DeliveryAttempt.objects.values_list("status", "tries")) == {(DeliveryAttempt.Status.ACCEPTED, 2)}
    assert set(Invitation.objects.values_list("status", flat=True)) == {Invitation.Status.SENT}
    assert sorted(m["To"] for m in fake_postmark.messages) == sorted(i.recipient for i in invitations)
    assert BillingEvent.objects.count() == 5
    assert queued_attempt_ids(django_rq.get_queue("delivery")) == []


def test_a_transient_failure_in_a_batch_gets_a_retry_job_of_its_own_and_the_others_go(
    organization, fake_postmark, run_worker, delivery_queue, django_capture_on_commit_callbacks
):
    # One message's own result says "try later" (Postmark's 429); the batch's others are taken.
    invitations = sent(organization, 5)
    fake_postmark.rate_limited_once.add(invitations[2].recipient)
    with time_machine.travel(T0, tick=False) as clock:
        with django_capture_on_commit_callbacks(execute=True):
            invitation_resend_bulk(invitation_ids=[i.pk for i in invitations], actor=TEST_ACTOR)
        with django_capture_on_commit_callbacks(execute=True):
            run_worker()
        failing = DeliveryAttempt.objects.get(invitation=invitations[2])
        assert (failing.status, failing.tries) == (DeliveryAttempt.Status.RETRYING, 1)
        assert Invitation.objects.get(pk=invitations[2].pk).status == Invitation.Status.FAILED
        assert Invitation.objects.filter(status=Invitation.Status.SENT).count() == 4
        [retry_id] = ScheduledJobRegistry(queue=delivery_queue).get_job_ids()
        retry = delivery_queue.fetch_job(retry_id)
        assert (retry.func_name, retry.args) == ("delivery.jobs.deliver_attempt", (failing.pk,))
        clock.shift(timedelta(seconds=61))
        with django_capture_on_commit_callbacks(execute=True):
            run_worker(with_scheduler=True)
    failing.refresh_from_db()
    assert (failing.status, failing.tries) == (DeliveryAttempt.Status.ACCEPTED, 2)
    assert set(Invitation.objects.values_list("status", flat=True)) == {Invitation.Status.SENT}
    assert BillingEvent.objects.count() == 5
    assert queued_attempt_ids(django_rq.get_queue("delivery")) == []
