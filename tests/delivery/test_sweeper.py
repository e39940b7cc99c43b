"""The outbox sweeper: PostgreSQL is the source of truth, Redis only carries work.

Redis outages are real: the job queues point at a redis-server started for the test, which the
test stops and starts again.
"""

import io
from datetime import timedelta

import django_rq
import pytest
import time_machine
from django.core import mail
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_rq.cron import DjangoCronScheduler

from billing.models import BillingEvent
from delivery import sms
from delivery.models import DeliveryAttempt
from invitations.models import Invitation
from tests.helpers import T0, sent_invitation

pytestmark = pytest.mark.django_db


def requeue(**options) -> str:
    out = io.StringIO()
    call_command("requeue_deliveries", stdout=out, **options)
    return out.getvalue()


def delivery_queue_length() -> int:
    return django_rq.get_queue("delivery", commit_mode="auto").count


def test_a_resend_with_redis_down_answers_200_and_is_delivered_once_by_requeue_deliveries_when_redis_is_back(
    api, organization, own_redis, run_all_queues, settings, django_capture_on_commit_callbacks
):
    invitation = sent_invitation(organization, dossier_token="dos_kept")
    own_redis.stop()
    with time_machine.travel(T0, tick=False) as clock:
        with django_capture_on_commit_callbacks(execute=True):
            response = api.post(f"/v1/autodoc/invitations/{invitation.token}/resend")

        assert response.status_code == 200
        body = response.json()
        assert (body["status"], body["deliveryAttempts"], body["sentAt"], body["dossierToken"]) == (
            "pending",
            2,
            None,
            "dos_kept",
        )
        attempt = DeliveryAttempt.objects.get(invitation=invitation, number=2)
        assert attempt.status == DeliveryAttempt.Status.QUEUED

        # Redis comes back empty: the job is gone, the outbox row is not.
        own_redis.start()
        assert delivery_queue_length() == 0
        # Within the grace period the sweeper leaves it alone (its job may simply be slow).
        assert requeue().startswith("Enqueued 0 ")
        clock.shift(settings.DELIVERY_SWEEP_GRACE_SECONDS + 1)
        assert requeue().startswith("Enqueued 1 delivery attempts (queued: 1,")
        # A second run right after does not pile up another job.
        assert requeue().startswith("Enqueued 0 ")
        run_all_queues()

    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [invitation.recipient]
    invitation.refresh_from_db()
    assert (invitation.status, invitation.delivery_attempts, invitation.dossier_token) == (
        Invitation.Status.SENT,
        2,
        "dos_kept",
    )
    attempt.refresh_from_db()
    assert (attempt.status, attempt.tries) == (DeliveryAttempt.Status.ACCEPTED, 1)
    assert BillingEvent.objects.filter(source_id=f"attempt:{attempt.pk}").count() == 1


def test_a_create_with_redis_down_answers_201_and_the_periodic_sweep_delivers_it_once_redis_is_back(
    api, own_redis, run_all_queues, settings, django_capture_on_commit_callbacks
):
    own_redis.stop()
    with time_machine.travel(T0, tick=False) as clock:
        with django_capture_on_commit_callbacks(execute=True):
            body = {"channel": "sms", "recipient": "+4915112345678"}
            response = api.post("/v1/autodoc/invitations", body, format="json")
        assert response.status_code == 201
        assert response.json()["status"] == "pending"
        token = response.json()["token"]
        assert DeliveryAttempt.objects.get(invitation__token=token).status == DeliveryAttempt.Status.QUEUED

        own_redis.start()
        clock.shift(settings.DELIVERY_SWEEP_GRACE_SECONDS + 1)
        # rq's cron scheduler, as `manage.py rqcron jobs.cron` runs it: the sweep is due at once.
        scheduler = DjangoCronScheduler()
        scheduler.load_config_from_file("jobs.cron")
        # Every periodic job is due at once: the sweeps, expiry events, reminders, scheduled sends, the
        # delivery health rollups, the request log, the refresh-token clean-up.
        assert [job.name for job in scheduler.enqueue_jobs()] == [
            "delivery.sweep",
            "webhooks.sweep",
            "invitations.expired",
            "invitations.reminders",
            "invitations.scheduled",
            "delivery.stats",
            "requestlog.sweep",
            "accounts.refresh-tokens",
        ]
        assert run_all_queues() == 9  # the eight, then the delivery the sweep enqueued
        # The next sweep is not due before its interval, and would find nothing anyway.
        assert scheduler.enqueue_jobs() == []
        clock.shift(settings.DELIVERY_SWEEP_INTERVAL_SECONDS)
        assert [job.name for job in scheduler.enqueue_jobs()] == [
            "delivery.sweep",
            "webhooks.sweep",
            "invitations.expired",
            "invitations.reminders",
            "invitations.scheduled",
            "delivery.stats",
            "requestlog.sweep",
        ]
        assert run_all_queues() == 7

    assert [message.to for message in sms.outbox] == ["+4915112345678"]
    invitation = Invitation.objects.get(token=token)
    assert invitation.status == Invitation.Status.SENT
    assert BillingEvent.objects.count() == 1


def test_requeue_deliveries_fails_loudly_while_redis_is_still_down_and_keeps_the_attempt(
    organization, own_redis, settings
):
    invitation = sent_invitation(organization, status=Invitation.Status.PENDING, sent_at=None)
    attempt = DeliveryAttempt.objects.create(
        invitation=invitation, number=1, channel="email", recipient=invitation.recipient, livemode=True
    )
    ten_minutes_ago = timezone.now() - timedelta(minutes=10)
    DeliveryAttempt.objects.filter(pk=attempt.pk).update(created_at=ten_minutes_ago, updated_at=ten_minutes_ago)
    own_redis.stop()

    with pytest.raises(CommandError, match="Could not enqueue 1 attempts"):
        requeue()

    attempt.refresh_from_db()
    assert attempt.status == DeliveryAttempt.Status.QUEUED
    assert attempt.updated_at < timezone.now() - timedelta(minutes=9)


def test_dry_run_lists_stuck_attempts_and_enqueues_nothing(organization, delivery_queue):
    invitation = sent_invitation(organization, status=Invitation.Status.PENDING, sent_at=None)
    DeliveryAttempt.objects.create(
        invitation=invitation, number=1, channel="email", recipient=invitation.recipient, livemode=True
    )
    ten_minutes_ago = timezone.now() - timedelta(minutes=10)
    DeliveryAttempt.objects.update(created_at=ten_minutes_ago, updated_at=ten_minutes_ago)

    assert requeue(dry_run=True).startswith("Would enqueue 1 delivery attempts (queued: 1,")
    assert delivery_queue.count == 0


def test_an_overdue_retry_whose_job_redis_lost_is_enqueued_again(organization, delivery_queue, run_worker, settings):
    invitation = sent_invitation(organization, status=Invitation.Status.FAILED, sent_at=None, error_message="timeout")
    now = timezone.now()
    attempt = DeliveryAttempt.objects.create(
        invitation=invitation,
        number=1,
        channel="email",
        recipient=invitation.recipient,
        livemode=True,
        status=DeliveryAttempt.Status.RETRYING,
        tries=1,
        retry_at=now - timedelta(minutes=5),
    )
    DeliveryAttempt.objects.filter(pk=attempt.pk).update(updated_at=now - timedelta(minutes=6))
    not_due = DeliveryAttempt.objects.create(
        invitation=sent_invitation(organization, status=Invitation.Status.FAILED, sent_at=None),
        number=1,
        channel="email",
        recipient="later@example.com",
        livemode=True,
        status=DeliveryAttempt.Status.RETRYING,
        tries=1,
        retry_at=now + timedelta(minutes=5),
    )

    assert "retry overdue: 1," in requeue()
    run_worker()

    attempt.refresh_from_db()
    not_due.refresh_from_db()
    assert (attempt.status, attempt.tries) == (DeliveryAttempt.Status.ACCEPTED, 2)
    assert not_due.status == DeliveryAttempt.Status.RETRYING
    invitation.refresh_from_db()
    assert (invitation.status, invitation.error_message) == (Invitation.Status.SENT, "")
    assert [message.to for message in mail.outbox] == [[invitation.recipient]]


def test_a_send_in_progress_is_not_taken_over_before_the_sending_timeout(
    organization, delivery_queue, run_worker, settings
):
    invitation = sent_invitation(organization, status=Invitation.Status.PENDING, sent_at=None)
    now = timezone.now()
    DeliveryAttempt.objects.create(
        invitation=invitation,
        number=1,
        channel="email",
        recipient=invitation.recipient,
        livemode=True,
        status=DeliveryAttempt.Status.SENDING,
        tries=1,
        claimed_at=now - timedelta(seconds=settings.DELIVERY_SENDING_TIMEOUT_SECONDS - 5),
    )
    DeliveryAttempt.objects.update(updated_at=now - timedelta(seconds=settings.DELIVERY_SENDING_TIMEOUT_SECONDS - 5))

    assert requeue().startswith("Enqueued 0 ")
    assert delivery_queue.count == 0


def test_a_backlog_waiting_for_its_jobs_and_a_lost_send_go_in_batches(
    organization, delivery_queue, run_worker, settings
):
    settings.DELIVERY_BATCH_SIZE = 50
    now = timezone.now()
    long_ago = now - timedelta(seconds=settings.DELIVERY_SWEEP_GRACE_SECONDS + 60)
    waiting = [sent_invitation(organization, status=Invitation.Status.PENDING, sent_at=None) for _ in range(120)]
    DeliveryAttempt.objects.bulk_create(
        DeliveryAttempt(invitation=invitation, number=1, channel="email", recipient=invitation.recipient, livemode=True)
        for invitation in waiting
    )
    lost_invitation = sent_invitation(organization, status=Invitation.Status.PENDING, sent_at=None)
    lost = DeliveryAttempt.objects.create(
        invitation=lost_invitation,
        number=1,
        channel="email",
        recipient=lost_invitation.recipient,
        livemode=True,
        status=DeliveryAttempt.Status.SENDING,
        tries=1,
        claimed_at=now - timedelta(seconds=settings.DELIVERY_SENDING_TIMEOUT_SECONDS + 60),
    )
    DeliveryAttempt.objects.update(created_at=long_ago, updated_at=long_ago)

    assert requeue().startswith("Enqueued 121 delivery attempts")
    jobs = delivery_queue.jobs
    assert {job.func_name for job in jobs} == {"delivery.jobs.deliver_attempts"}
    assert sorted(len(job.args[0]) for job in jobs) == [21, 50, 50]
    assert lost.pk in {pk for job in jobs for pk in job.args[0]}
    run_worker()

    assert set(DeliveryAttempt.objects.values_list("status", flat=True)) == {DeliveryAttempt.Status.ACCEPTED}
    assert sorted(message.to[0] for message in mail.outbox) == sorted(
        [invitation.recipient for invitation in waiting] + [lost_invitation.recipient]
    )
