"""Redis killed, or frozen, under a stream of creates and resends: no delivery is lost.

PostgreSQL is the source of truth and Redis only carries work. The job queues and the throttles'
cache point at a redis-server of the test's own (as one REDIS_URL points both); the test kills it
with SIGKILL mid-stream, so every job it held is gone. The API keeps answering, the attempts stay
`queued` in the outbox, and once Redis is back the sweeper enqueues them after its grace period
and a real rq worker delivers each exactly once.
"""

import logging
import time
from collections import Counter
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import django_rq
import pytest
from django.core import mail
from django.db.models import Max, Min
from django.utils import timezone
from rq import SimpleWorker

from billing.models import BillingEvent
from delivery import sms
from delivery.models import DeliveryAttempt
from invitations.models import Invitation
from tests.conftest import client_for
from tests.factories import InvitationFactory
from tests.faults.support import report, sweep, tally

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]

PAIRS = 18  # one create and one resend each
KILLED_AFTER_PAIRS = 6
DELIVERED_BEFORE_KILL = 6


@pytest.fixture
def app_redis(settings, private_redis):
    """The job queues and the throttles' cache on the test's own Redis, with their usual options."""
    settings.RQ_QUEUES = {
        name: {**config, "URL": private_redis.rebased(config["URL"])} for name, config in settings.RQ_QUEUES.items()
    }
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": private_redis.url}}
    return private_redis


@pytest.fixture
def enqueue_refusals(caplog):
    """Counts the enqueues Redis refused (each is logged and left to the sweeper)."""
    caplog.set_level(logging.WARNING, logger="jobs.queueing")
    return lambda: sum(record.getMessage().startswith("Could not enqueue deliver_attempt") for record in caplog.records)


def delivery_queue():
    return django_rq.get_queue("delivery", commit_mode="auto")


def run_worker(*, max_jobs: int | None = None) -> int:
    """A real rq worker in burst mode over the delivery queue; returns the jobs it ran."""
    queue = delivery_queue()
    worker = SimpleWorker([queue], connection=queue.connection)
    worker.work(burst=True, max_jobs=max_jobs, logging_level="WARNING")
    worker.refresh()
    return worker.successful_job_count + worker.failed_job_count


def delivered_keys() -> Counter:
    """Idempotency keys of every message the providers took (SMS and email)."""
    keys = [message.idempotency_key for message in sms.outbox]
    keys += [message.extra_headers["X-Delivery-Attempt"] for message in mail.outbox]
    return Counter(keys)


def test_redis_killed_mid_stream_every_attempt_is_delivered_once_after_it_returns(
    app_redis, organization, live_key, settings, enqueue_refusals
):
    api = client_for(live_key)
    to_resend = [
        InvitationFactory(organization=organization, sent_at=timezone.now() - timedelta(minutes=10))
        for _ in range(PAIRS)
    ]
    answers = Counter()
    delivered_before_kill = jobs_lost = 0
    for n, invitation in enumerate(to_resend):
        if n == KILLED_AFTER_PAIRS:
            delivered_before_kill = run_worker(max_jobs=DELIVERED_BEFORE_KILL)
            jobs_lost = delivery_queue().count
            app_redis.kill()
        created = api.post(
            "/v1/autodoc/invitations", {"channel": "sms", "recipient": f"+49151123456{n:02d}"}, format="json"
        )
        resent = api.post(f"/v1/autodoc/invitations/{invitation.token}/resend")
        assert (created.status_code, resent.status_code) == (201, 200), (created.json(), resent.json())
        assert created.json()["status"] == resent.json()["status"] == "pending"
        answers.update([created.status_code, resent.status_code])

    attempts = DeliveryAttempt.objects.all()
    assert attempts.count() == 2 * PAIRS
    refused = enqueue_refusals()
    assert refused == 2 * (PAIRS - KILLED_AFTER_PAIRS)
    assert (delivered_before_kill, jobs_lost) == (DELIVERED_BEFORE_KILL, 2 * KILLED_AFTER_PAIRS - DELIVERED_BEFORE_KILL)
    left_queued = attempts.filter(status=DeliveryAttempt.Status.QUEUED)
    assert left_queued.count() == jobs_lost + refused

    # Redis comes back empty: the jobs it held are gone, the outbox rows are not.
    app_redis.start()
    assert delivery_queue().count == 0
    grace = timedelta(seconds=settings.DELIVERY_SWEEP_GRACE_SECONDS)
    span = left_queued.aggregate(oldest=Min("updated_at"), newest=Max("updated_at"))
    # Within the grace period the sweeper leaves them alone (a job may simply be slow) ...
    inside = sweep(at=span["oldest"] + grace - timedelta(seconds=1))
    assert inside.startswith("Enqueued 0 delivery attempts"), inside
    # ... and after it, enqueues every attempt still queued.
    after = sweep(at=span["newest"] + grace + timedelta(seconds=1))
    assert after.startswith(f"Enqueued {jobs_lost + refused} delivery attempts (queued: {jobs_lost + refused},"), after
    # In batch jobs: each attempt named once, a job per DELIVERY_BATCH_SIZE of them.
    jobs = delivery_queue().jobs
    named = [pk for job in jobs for pk in job.args[0]]
    assert sorted(named) == sorted(left_queued.values_list("pk", flat=True))
    assert len(jobs) == -(-(jobs_lost + refused) // settings.DELIVERY_BATCH_SIZE)
    assert run_worker() == len(jobs)

    assert set(attempts.values_list("status", "tries")) == {(DeliveryAttempt.Status.ACCEPTED, 1)}
    delivered_after = jobs_lost + refused
    keys = delivered_keys()
    expected = {f"delivery-attempt-{pk}" for pk in attempts.values_list("pk", flat=True)}
    lost, duplicates = tally(expected, list(keys.elements()))
    assert (lost, duplicates, set(keys)) == (0, 0, expected)
    billed = set(BillingEvent.objects.values_list("source_id", flat=True))
    assert billed == {f"attempt:{pk}" for pk in attempts.values_list("pk", flat=True)}
    assert set(Invitation.objects.values_list("status", flat=True)) == {Invitation.Status.SENT}

    report(
        "Redis killed (SIGKILL) mid-stream of creates and resends",
        {
            "requests": f"{sum(answers.values())} ({PAIRS} creates, {PAIRS} resends)",
            "answers": f"{dict(sorted(answers.items()))}, 5xx: {sum(n for code, n in answers.items() if code >= 500)}",
            "before the kill": f"{2 * KILLED_AFTER_PAIRS} jobs enqueued, {delivered_before_kill} delivered",
            "lost with Redis": f"{jobs_lost} jobs",
            "while Redis was down": f"{refused} enqueues refused (logged), the API answered as usual",
            "left queued in PostgreSQL": f"{jobs_lost + refused} attempts",
            "sweep inside the grace period": inside,
            "sweep after the grace period": after,
            "delivered after Redis returned": f"{delivered_after} attempts in {len(jobs)} batch jobs",
            "messages / attempts": f"{sum(keys.values())} / {attempts.count()}",
            "billing events": len(billed),
        },
        lost=lost,
        duplicates=duplicates,
    )


def test_a_frozen_redis_delays_a_create_by_its_timeouts_and_the_attempt_is_delivered_once(
    app_redis, live_key, settings, enqueue_refusals
):
    api = client_for(live_key)
    body = {"channel": "sms", "recipient": "+4915112345678"}
    # A first create while Redis is fine: the process now holds open connections to it, as a
    # long-running web process does.
    assert api.post("/v1/autodoc/invitations", body, format="json").status_code == 201
    assert run_worker() == 1
    sms.outbox.clear()
    enqueue_timeout = float(parse_qs(urlsplit(settings.RQ_QUEUES["delivery"]["URL"]).query)["socket_timeout"][0])
    cache_timeout = float(settings.CACHES["default"]["OPTIONS"]["socket_timeout"])

    app_redis.freeze()
    try:
        started = time.monotonic()
        response = api.post("/v1/autodoc/invitations", body, format="json")
        elapsed = time.monotonic() - started
    finally:
        app_redis.thaw()

    assert response.status_code == 201, response.json()
    assert response.json()["status"] == "pending"
    # The throttle gives up on the cache, the enqueue on the queue; nothing waits longer.
    assert elapsed < cache_timeout + enqueue_timeout + 1.5
    attempt = DeliveryAttempt.objects.get(invitation__token=response.json()["token"])
    assert attempt.status == DeliveryAttempt.Status.QUEUED
    assert enqueue_refusals() == 1
    # What the timed-out client had already written reaches Redis once it runs again: the job may
    # land late. Either way the outbox row decides, and the claim lets one job through.
    landed_late = delivery_queue().count
    ran_after_thaw = run_worker()
    swept = sweep(at=attempt.updated_at + timedelta(seconds=settings.DELIVERY_SWEEP_GRACE_SECONDS + 1))
    ran_after_sweep = run_worker()

    attempt.refresh_from_db()
    assert (attempt.status, attempt.tries) == (DeliveryAttempt.Status.ACCEPTED, 1)
    keys = delivered_keys()
    assert keys == Counter({f"delivery-attempt-{attempt.pk}": 1})
    lost, duplicates = tally({f"delivery-attempt-{attempt.pk}"}, list(keys.elements()))
    assert BillingEvent.objects.filter(source_id=f"attempt:{attempt.pk}").count() == 1

    report(
        "Redis frozen (SIGSTOP) during a create",
        {
            "answer": f"{response.status_code} in {elapsed:.1f} s "
            f"(cache timeout {cache_timeout:g} s, enqueue timeout {enqueue_timeout:g} s)",
            "attempt when answered": "queued; the enqueue refusal logged",
            "after SIGCONT": f"jobs that landed late: {landed_late}; a worker ran {ran_after_thaw}",
            "sweep after the grace period": f"{swept}; a worker ran {ran_after_sweep}",
            "messages / attempts": f"{sum(keys.values())} / 1",
        },
        lost=lost,
        duplicates=duplicates,
    )
