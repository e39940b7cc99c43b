"""Scheduled sends: a create with sendAt stays pending with nothing queued until then; the periodic
job queues the first send once it is due, exactly once however late it runs; PATCH moves it or sends
it now; a cancel before it means nothing is ever sent; a resend says when it is scheduled."""

import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connection

from delivery.models import DeliveryAttempt
from invitations.jobs import send_scheduled
from invitations.models import Invitation, InvitationEvent
from jobs.cron import PERIODIC_JOBS
from tests.conftest import queued_attempt_ids
from tests.helpers import CREATE_URL, T0, create, resend

pytestmark = pytest.mark.django_db(transaction=True)

AT = T0 + timedelta(hours=2)
ISO_AT = "2026-03-02T11:00:00Z"


def scheduled(api, send_at: str = ISO_AT) -> Invitation:
    response = create(api, sendAt=send_at)
    assert response.status_code == 201, response.json()
    return Invitation.objects.get(token=response.json()["token"])


def test_nothing_is_queued_until_send_at_and_then_exactly_once(api, delivery_queue, run_worker):
    with time_machine.travel(T0, tick=False):
        invitation = scheduled(api)
        body = api.get(f"{CREATE_URL}/{invitation.token}").json()
        assert (body["status"], body["sendAt"], body["deliveryAttempts"]) == ("pending", ISO_AT, 1)
        assert not DeliveryAttempt.objects.exists() and delivery_queue.count == 0
        refused = resend(api, invitation)
        assert refused.status_code == 409
        assert "scheduled for 2026-03-02 11:00:00 UTC" in refused.json()["error"]["message"]
    with time_machine.travel(AT - timedelta(seconds=1), tick=False):
        assert send_scheduled() == 0
    with time_machine.travel(AT, tick=False):
        assert send_scheduled() == 1
        assert send_scheduled() == 0  # once
        [attempt] = DeliveryAttempt.objects.all()
        assert (attempt.number, attempt.requested_by_kind, attempt.requested_by_label) == (
            1,
            "system",
            "system:schedule",
        )
        assert queued_attempt_ids(delivery_queue) == [attempt.pk]
        assert run_worker() == 1
    invitation.refresh_from_db()
    assert (invitation.status, invitation.delivery_attempts, invitation.send_due_at) == (
        Invitation.Status.SENT,
        1,
        None,
    )
    assert api.get(f"{CREATE_URL}/{invitation.token}").json()["sendAt"] == ISO_AT


@pytest.mark.parametrize(
    "send_at, problem",
    [
        ("2026-03-02T09:00:30Z", "at least a minute ahead"),
        ("2026-03-01T09:00:00Z", "at least a minute ahead"),
        ("2026-04-10T09:00:00Z", "before expiresAt"),
        ("next tuesday", "ISO 8601"),
    ],
)
def test_a_send_at_too_soon_past_or_after_the_expiry_is_refused_and_nothing_is_made(api, send_at, problem):
    with time_machine.travel(T0, tick=False):
        response = create(api, sendAt=send_at)
    assert response.status_code == 422
    assert response.json()["error"]["type"] == "validation_error"
    assert problem in response.json()["error"]["fields"]["sendAt"][0]
    assert not Invitation.objects.exists()
    assert create(api, sendAt=1700000000).status_code == 400  # a number is malformed


def test_patch_moves_it_and_null_sends_it_now(api, delivery_queue):
    with time_machine.travel(T0, tick=False):
        invitation = scheduled(api)
        moved = api.patch(f"{CREATE_URL}/{invitation.token}", {"sendAt": "2026-03-02T12:00:00Z"}, format="json")
        assert moved.status_code == 200 and moved.json()["sendAt"] == "2026-03-02T12:00:00Z"
    with time_machine.travel(AT, tick=False):
        assert send_scheduled() == 0  # no longer due at the old time
        now = api.patch(f"{CREATE_URL}/{invitation.token}", {"sendAt": None}, format="json")
        assert now.status_code == 200
        [attempt] = DeliveryAttempt.objects.all()
        assert queued_attempt_ids(delivery_queue) == [attempt.pk]
        again = api.patch(f"{CREATE_URL}/{invitation.token}", {"sendAt": "2026-03-02T13:00:00Z"}, format="json")
        assert again.status_code == 409 and again.json()["error"]["type"] == "invalid_status"
    with time_machine.travel(T0 + timedelta(hours=3), tick=False):
        assert send_scheduled() == 0
    assert DeliveryAttempt.objects.count() == 1
    reasons = list(InvitationEvent.objects.filter(invitation=invitation).values_list("reason", flat=True))
    assert reasons == ["created", "details_changed", "details_changed"]


def test_a_cancel_before_send_at_means_nothing_is_ever_sent(api, delivery_queue):
    with time_machine.travel(T0, tick=False):
        invitation = scheduled(api)
        assert api.post(f"{CREATE_URL}/{invitation.token}/cancel").status_code == 200
    with time_machine.travel(AT + timedelta(minutes=5), tick=False):
        assert send_scheduled() == 0
    assert not DeliveryAttempt.objects.exists() and delivery_queue.count == 0


def test_a_sweep_that_runs_late_sends_each_once_even_two_at_a_time(api):
    with time_machine.travel(T0, tick=False):
        invitations = [scheduled(api) for _ in range(30)]
    results: list[int] = []

    def sweep():
        try:
            results.append(send_scheduled())
        finally:
            connection.close()

    with time_machine.travel(AT + timedelta(hours=6), tick=False):  # the workers were down at sendAt
        threads = [threading.Thread(target=sweep) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sum(results) == 30
    assert sorted(DeliveryAttempt.objects.values_list("invitation_id", flat=True)) == sorted(i.pk for i in invitations)


def test_the_schedule_sweep_runs_every_schedule_sweep_interval_seconds(settings):
    [(interval, name)] = [(i, n) for path, i, n in PERIODIC_JOBS if path == "invitations.jobs.send_scheduled"]
    assert (interval, name) == (settings.SCHEDULE_SWEEP_INTERVAL_SECONDS, "invitations.scheduled")
    assert settings.SCHEDULE_SWEEP_INTERVAL_SECONDS == 10
