"""Automatic reminders (API.md "Reminders"): asked for per invitation or by the organization's
defaults, found by the periodic job through a real rq worker, sent under the resend's rules as
actor system/reminder through a Postmark-compatible server on 127.0.0.1, nothing twice."""

import signal
import subprocess
import sys
import time
from datetime import timedelta

import django_rq
import pytest
import time_machine
from django.db import connection
from rq import SimpleWorker

from billing.models import BillingEvent
from delivery.models import DeliveryAttempt
from invitations.models import Invitation, InvitationEvent
from invitations.services import invitation_cancel, invitation_link_open
from tests.conftest import TEST_ACTOR, postmark_record, postmark_webhook
from tests.factories import WorkflowFactory
from tests.faults.support import service_environment
from tests.helpers import T0
from tests.helpers import created as create
from webhooks.models import Event

REMINDERS = {"afterHours": 1, "everyHours": 2, "max": 2}


def remind(captured) -> None:
    """The reminder job as the scheduler enqueues it, then the sends it queued (after its commit), on
    real rq workers."""
    default = django_rq.get_queue("default", commit_mode="auto")
    delivery = django_rq.get_queue("delivery", commit_mode="auto")
    with captured(execute=True):
        default.enqueue("jobs.cron.run_periodic", "invitations.jobs.send_due_reminders")
        SimpleWorker([default], connection=default.connection).work(burst=True)
    with captured(execute=True):
        SimpleWorker([delivery], connection=delivery.connection).work(burst=True)


@pytest.mark.django_db
def test_two_reminders_go_in_the_invitations_language_and_no_third(
    api, client, fake_postmark, django_capture_on_commit_callbacks
):
    with time_machine.travel(T0, tick=False) as clock:
        invitation = create(api, django_capture_on_commit_callbacks, reminders=REMINDERS, locale="de")
        remind(django_capture_on_commit_callbacks)
        body = api.get(f"/v1/autodoc/invitations/{invitation.token}").json()
        assert body["status"] == "sent"
        assert body["reminders"] == {"afterHours": 1.0, "everyHours": 2.0, "max": 2, "sent": 0}
        assert body["nextReminderAt"] == "2026-03-02T10:00:00Z"
        # Delivered, not opened: a reminder still goes.
        first = invitation.delivery_attempts_set.select_related("invitation").get()
        postmark_webhook(client, postmark_record("Delivery", first))

        clock.move_to(T0 + timedelta(minutes=59))
        remind(django_capture_on_commit_callbacks)
        assert len(fake_postmark.messages) == 1

        clock.move_to(T0 + timedelta(hours=1))
        remind(django_capture_on_commit_callbacks)
        body = api.get(f"/v1/autodoc/invitations/{invitation.token}").json()
        assert (body["status"], body["deliveryAttempts"], body["reminders"]["sent"]) == ("sent", 2, 1)
        assert body["nextReminderAt"] == "2026-03-02T12:00:00Z"
        reminder = fake_postmark.messages[-1]
        assert reminder["Subject"].startswith("Erinnerung:")
        assert "Erinnerung" in reminder["TextBody"]
        assert "Erinnerung" not in fake_postmark.messages[0]["Subject"]

        clock.move_to(T0 + timedelta(hours=3))
        remind(django_capture_on_commit_callbacks)
        clock.move_to(T0 + timedelta(hours=30))
        remind(django_capture_on_commit_callbacks)

    invitation.refresh_from_db()
    assert (invitation.delivery_attempts, invitation.reminders_sent, invitation.next_reminder_at) == (3, 2, None)
    assert len(fake_postmark.messages) == 3
    assert BillingEvent.objects.count() == 3
    reminded = InvitationEvent.objects.filter(invitation=invitation, reason="reminder").order_by("id")
    assert [(row.from_status, row.actor_kind, row.actor_label) for row in reminded] == [
        ("delivered", "system", "reminder"),
        ("sent", "system", "reminder"),
    ]
    resent = Event.objects.filter(type="invitation.resent").order_by("id")
    assert [event.data["requestedBy"] for event in resent] == [{"kind": "system", "label": "reminder"}] * 2
    requested = set(DeliveryAttempt.objects.filter(number__gt=1).values_list("requested_by_kind", "requested_by_label"))
    assert requested == {("system", "reminder")}


@pytest.mark.django_db
def test_no_reminder_by_default_after_an_open_or_after_a_cancel(
    api, organization, fake_postmark, django_capture_on_commit_callbacks
):
    with time_machine.travel(T0, tick=False) as clock:
        by_default = create(api, django_capture_on_commit_callbacks)
        opened = create(api, django_capture_on_commit_callbacks, reminders=REMINDERS, recipient="bo@example.com")
        canceled = create(api, django_capture_on_commit_callbacks, reminders=REMINDERS, recipient="cy@example.com")
        remind(django_capture_on_commit_callbacks)
        invitation_link_open(token=opened.token, actor=TEST_ACTOR)
        invitation_cancel(invitation=canceled, actor=TEST_ACTOR)
        clock.move_to(T0 + timedelta(hours=5))
        remind(django_capture_on_commit_callbacks)

    assert len(fake_postmark.messages) == 3
    assert list(Invitation.objects.values_list("next_reminder_at", flat=True)) == [None, None, None]
    assert Invitation.objects.get(pk=by_default.pk).reminder_max == 0
    assert not InvitationEvent.objects.filter(reason="reminder").exists()


@pytest.mark.django_db
def test_the_organizations_defaults_fill_what_a_create_leaves_out(
    api, organization, django_capture_on_commit_callbacks
):
    organization.reminder_max, organization.reminder_after_hours = 1, 6
    organization.save()
    given = create(api, django_capture_on_commit_callbacks, reminders={"everyHours": 12})
    assert (given.reminder_max, given.reminder_after_hours, given.reminder_every_hours) == (1, 6, 12)


@pytest.mark.django_db
def test_a_suppressed_recipient_gets_no_reminder(api, fake_postmark, django_capture_on_commit_callbacks):
    with time_machine.travel(T0, tick=False) as clock:
        invitation = create(api, django_capture_on_commit_callbacks, reminders=REMINDERS)
        remind(django_capture_on_commit_callbacks)
        api.post("/v1/suppressions", {"recipient": "ana@example.com"}, format="json")
        clock.move_to(T0 + timedelta(hours=2))
        remind(django_capture_on_commit_callbacks)
    invitation.refresh_from_db()
    assert (invitation.status, invitation.delivery_attempts, invitation.next_reminder_at) == (
        Invitation.Status.SENT,
        1,
        None,
    )
    assert len(fake_postmark.messages) == 1


def _wait_for_lock_wait(run: subprocess.Popen, timeout: float = 30) -> None:
    """Until the process ``run``'s database session waits on a lock."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            if run.poll() is not None:
                raise AssertionError(run.stdout.read() if run.stdout else run.returncode)
            # Inside a transaction the statistics views keep the first snapshot they gave.
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.05)
    run.kill()
    raise AssertionError(f"process {run.pid} never waited on the lock: {run.communicate()[0]!r}")


@pytest.mark.django_db(transaction=True)
def test_a_reminder_run_killed_mid_way_sends_nothing_and_the_next_run_sends_each_once(api, organization):
    from django.utils import timezone

    sent_at = timezone.now() - timedelta(hours=2)
    workflow = WorkflowFactory(organization=organization)
    rows = Invitation.objects.bulk_create(
        Invitation(
            organization=organization,
            workflow=workflow,
            livemode=True,
            status=Invitation.Status.SENT,
            channel="email",
            recipient=f"p{i}@example.com",
            created_at=sent_at,
            sent_at=sent_at,
            expires_at=sent_at + timedelta(days=30),
            reminder_max=1,
            reminder_after_hours=1,
            next_reminder_at=sent_at + timedelta(hours=1),
        )
        for i in range(40)
    )
    command = [sys.executable, "manage.py", "send_reminders"]
    with connection.cursor() as cursor:
        # Hold the outbox table: the run locks and changes the invitations, then waits to write their attempts.
        cursor.execute("BEGIN")
        cursor.execute(f"LOCK TABLE {DeliveryAttempt._meta.db_table} IN ACCESS EXCLUSIVE MODE")
        run = subprocess.Popen(command, env=service_environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            _wait_for_lock_wait(run)
            run.send_signal(signal.SIGKILL)
            run.wait(timeout=10)
        finally:
            cursor.execute("ROLLBACK")
    assert run.returncode == -signal.SIGKILL
    assert not InvitationEvent.objects.filter(reason="reminder").exists()
    assert set(Invitation.objects.values_list("status", "reminders_sent")) == {(Invitation.Status.SENT, 0)}

    again = subprocess.run(command, env=service_environment(), capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    assert "Sent 40 reminders" in again.stdout
    assert subprocess.run(
        command, env=service_environment(), capture_output=True, text=True, timeout=60
    ).stdout.startswith("Sent 0 reminders")
    assert DeliveryAttempt.objects.count() == len(rows)
    assert sorted(DeliveryAttempt.objects.values_list("invitation_id", flat=True)) == sorted(row.pk for row in rows)
    assert InvitationEvent.objects.filter(reason="reminder").count() == 40


@pytest.mark.django_db
def test_the_sweep_finds_the_due_reminders_through_its_index(organization):
    from django.utils import timezone

    from invitations.services.reminders import due_reminders

    workflow = WorkflowFactory(organization=organization)
    now = timezone.now()
    common = {"organization": organization, "workflow": workflow, "livemode": True, "channel": "email"}
    rows = [
        Invitation(
            **common,
            recipient=f"n{i}@example.com",
            created_at=now,
            expires_at=now + timedelta(days=30),
            next_reminder_at=now - timedelta(minutes=1) if i < 5 else None,
        )
        for i in range(20_000)
    ]
    Invitation.objects.bulk_create(rows, batch_size=5000)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Invitation._meta.db_table}")
    plan = due_reminders(now=now).explain()
    assert "inv_reminder_due" in plan, plan
    assert due_reminders(now=now).count() == 5


@pytest.mark.parametrize("hours", [0.5, 24 * 365 + 1])
def test_reminder_hours_out_of_range_are_refused_with_the_range_named(api, hours):
    response = api.post(
        "/v1/autodoc/invitations",
        {"channel": "email", "recipient": "ana@example.com", "reminders": {"afterHours": hours, "max": 1}},
        format="json",
    )
    assert response.status_code == 422, response.json()
    assert response.json()["error"]["fields"]["reminders"]["afterHours"] == ["Must be between 1 and 8760 hours."]
