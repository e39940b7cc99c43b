"""Queueing many delivery attempts: one INSERT, one Redis pipeline after commit, the single path's jobs."""

import pytest
from django.db import transaction

from delivery.jobs import deliver_attempt
from delivery.models import DeliveryAttempt
from delivery.services import delivery_attempt_queue, delivery_attempt_queue_many
from jobs.queueing import enqueue_many_now
from tests.conftest import TEST_ACTOR
from tests.factories import InvitationFactory


@pytest.mark.django_db(transaction=True)
def test_batched_jobs_are_the_same_jobs_the_single_path_enqueues(organization, delivery_queue):
    single_invitation, *batch = [InvitationFactory(organization=organization) for _ in range(4)]
    with transaction.atomic():
        single = delivery_attempt_queue(invitation=single_invitation, actor=TEST_ACTOR)
        attempts = delivery_attempt_queue_many(invitations=batch, actor=TEST_ACTOR)
        assert delivery_queue.count == 0  # nothing leaves before commit
    jobs = {job.args[0]: job for job in delivery_queue.get_jobs()}
    assert set(jobs) == {single.pk, *(a.pk for a in attempts)}
    reference = jobs[single.pk]
    for attempt in attempts:
        job = jobs[attempt.pk]
        assert job.func_name == reference.func_name == "delivery.jobs.deliver_attempt"
        assert (job.retries_left, job.retry_intervals) == (reference.retries_left, reference.retry_intervals)
        assert (job.timeout, job.result_ttl, job.origin) == (reference.timeout, reference.result_ttl, "delivery")
    rows = DeliveryAttempt.objects.filter(pk__in=[a.pk for a in attempts]).order_by("pk")
    assert [(a.invitation_id, a.number, a.status, a.recipient) for a in rows] == [
        (i.pk, 1, "queued", i.recipient) for i in batch
    ]


@pytest.mark.django_db(transaction=True)
def test_when_redis_is_down_after_commit_the_attempts_stay_queued_and_nothing_raises(organization, settings):
    settings.RQ_QUEUES = {**settings.RQ_QUEUES, "delivery": {"URL": "redis://127.0.0.1:1/0", "DEFAULT_TIMEOUT": 60}}
    invitations = [InvitationFactory(organization=organization) for _ in range(3)]
    heard = []
    with transaction.atomic():
        delivery_attempt_queue_many(
            invitations=invitations, actor=TEST_ACTOR, on_enqueued=lambda *args: heard.append(args)
        )
    assert heard == [(False, 3)]
    assert DeliveryAttempt.objects.filter(status=DeliveryAttempt.Status.QUEUED).count() == 3


def test_enqueue_many_now_reports_false_when_redis_refuses(settings):
    settings.RQ_QUEUES = {**settings.RQ_QUEUES, "delivery": {"URL": "redis://127.0.0.1:1/0", "DEFAULT_TIMEOUT": 60}}
    assert enqueue_many_now(deliver_attempt, [(1,), (2,)], queue_name="delivery") is False


def test_enqueue_many_now_puts_every_job_on_the_queue_in_order(delivery_queue):
    assert enqueue_many_now(deliver_attempt, [(n,) for n in range(50)], queue_name="delivery") is True
    assert [job.args for job in delivery_queue.get_jobs()] == [(n,) for n in range(50)]
