"""Queueing delivery attempts: one INSERT, one Redis pipeline after commit; a lone send its own job,
many DELIVERY_BATCH_SIZE to a job."""

import pytest
from django.db import transaction

from delivery.jobs import deliver_attempt
from delivery.models import DeliveryAttempt
from delivery.services import delivery_attempts_queue
from jobs.queueing import enqueue_now
from tests.conftest import TEST_ACTOR
from tests.factories import InvitationFactory


@pytest.mark.django_db(transaction=True)
def test_a_lone_send_is_its_own_job_and_many_go_a_batch_to_a_job(organization, delivery_queue, settings):
    settings.DELIVERY_BATCH_SIZE = 2
    single_invitation, *batch = [InvitationFactory(organization=organization) for _ in range(4)]
    with transaction.atomic():
        (single,) = delivery_attempts_queue(invitations=[single_invitation], actor=TEST_ACTOR)
        attempts = delivery_attempts_queue(invitations=batch, actor=TEST_ACTOR)
        assert delivery_queue.count == 0  # nothing leaves before commit
    lone, *batches = delivery_queue.get_jobs()
    assert (lone.func_name, lone.args) == ("delivery.jobs.deliver_attempt", (single.pk,))
    # rq's Retry carries a lone send's backoff; a batch reschedules each failure as a job of its own.
    assert lone.retries_left == len(settings.DELIVERY_RETRY_INTERVALS)
    assert [job.func_name for job in batches] == ["delivery.jobs.deliver_attempts"] * 2
    assert [job.args[0] for job in batches] == [[attempts[0].pk, attempts[1].pk], [attempts[2].pk]]
    assert {(job.timeout, job.result_ttl, job.origin) for job in batches} == {
        (lone.timeout, lone.result_ttl, "delivery")
    }
    rows = DeliveryAttempt.objects.filter(pk__in=[a.pk for a in attempts]).order_by("pk")
    assert [(a.invitation_id, a.number, a.status, a.recipient) for a in rows] == [
        (i.pk, 1, "queued", i.recipient) for i in batch
    ]


@pytest.mark.django_db(transaction=True)
def test_a_lone_send_goes_ahead_of_another_organizations_batches_already_waiting(
    organization, other_organization, delivery_queue, settings
):
    settings.DELIVERY_BATCH_SIZE = 2
    bulk = [InvitationFactory(organization=other_organization) for _ in range(6)]
    with transaction.atomic():
        delivery_attempts_queue(invitations=bulk, actor=TEST_ACTOR)
    with transaction.atomic():
        (lone,) = delivery_attempts_queue(invitations=[InvitationFactory(organization=organization)], actor=TEST_ACTOR)
    first, *waiting = delivery_queue.get_jobs()
    assert (first.func_name, first.args) == ("delivery.jobs.deliver_attempt", (lone.pk,))
    assert [job.func_name for job in waiting] == ["delivery.jobs.deliver_attempts"] * 3


@pytest.mark.django_db(transaction=True)
def test_when_redis_is_down_after_commit_the_attempts_stay_queued_and_nothing_raises(organization, settings):
    settings.RQ_QUEUES = {**settings.RQ_QUEUES, "delivery": {"URL": "redis://127.0.0.1:1/0", "DEFAULT_TIMEOUT": 60}}
    invitations = [InvitationFactory(organization=organization) for _ in range(3)]
    heard = []
    with transaction.atomic():
        delivery_attempts_queue(invitations=invitations, actor=TEST_ACTOR, on_enqueued=lambda *args: heard.append(args))
    assert heard == [(False, 3)]
    assert DeliveryAttempt.objects.filter(status=DeliveryAttempt.Status.QUEUED).count() == 3


def test_enqueue_now_of_a_batch_reports_false_when_redis_refuses(settings):
    settings.RQ_QUEUES = {**settings.RQ_QUEUES, "delivery": {"URL": "redis://127.0.0.1:1/0", "DEFAULT_TIMEOUT": 60}}
    assert enqueue_now(deliver_attempt, queue_name="delivery", batch=[(1,), (2,)]) is False


def test_enqueue_now_of_a_batch_puts_every_job_on_the_queue_in_order(delivery_queue):
    assert enqueue_now(deliver_attempt, queue_name="delivery", batch=[(n,) for n in range(50)]) is True
    assert [job.args for job in delivery_queue.get_jobs()] == [(n,) for n in range(50)]
