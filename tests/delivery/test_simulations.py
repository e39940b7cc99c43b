"""Sandbox simulations: a sandbox send to a reserved recipient plays out a provider's story, with the
same events, webhooks, suppressions and timeline a real provider's reports produce, attempts naming
the provider "simulator"; live keys may not use those recipients. A real rq worker runs the sends and
the stories' events."""

from datetime import timedelta

import pytest
import time_machine

from billing.models import BillingEvent
from delivery.models import DeliveryAttempt
from invitations.models import Invitation
from suppressions.models import Suppression
from tests.helpers import CREATE_URL, T0
from webhooks.models import Event

pytestmark = pytest.mark.django_db


def play(sandbox_api, run_worker, captured, channel: str, recipient: str, *, later: int = 0) -> Invitation:
    with time_machine.travel(T0, tick=True) as clock:
        with captured(execute=True):
            answer = sandbox_api.post(CREATE_URL, {"channel": channel, "recipient": recipient}, format="json")
        assert answer.status_code == 201, answer.json()
        for _ in range(3):  # the send, then its story's events
            with captured(execute=True):
                run_worker(with_scheduler=True)
        for _ in range(later):  # a flaky story's retries
            clock.shift(timedelta(minutes=30))
            with captured(execute=True):
                run_worker(with_scheduler=True)
    return Invitation.objects.get(token=answer.json()["token"])


def timeline(sandbox_api, invitation) -> list[dict]:
    return sandbox_api.get(f"{CREATE_URL}/{invitation.token}/attempts").json()["data"]


@pytest.mark.parametrize(
    "channel, recipient, status, events",
    [
        ("email", "delivered@simulator.test", "delivered", ["delivered"]),
        ("email", "opened@simulator.test", "opened", ["delivered", "opened"]),
        ("sms", "+15005550006", "delivered", ["delivered"]),
    ],
)
def test_a_happy_story_moves_the_invitation_as_the_providers_events_would(
    sandbox_api, run_worker, django_capture_on_commit_callbacks, channel, recipient, status, events
):
    invitation = play(sandbox_api, run_worker, django_capture_on_commit_callbacks, channel, recipient)
    assert invitation.status == status
    [attempt] = timeline(sandbox_api, invitation)
    assert (attempt["provider"], attempt["status"]) == ("simulator", "simulated")
    assert [event["type"] for event in attempt["events"]] == events
    types = set(Event.objects.filter(subject=invitation.token).values_list("type", flat=True))
    assert {"invitation.created", "invitation.sent", f"invitation.{status}"} <= types
    assert not BillingEvent.objects.exists()  # sandbox


def test_a_bounce_fails_the_invitation_and_suppresses_the_address_in_sandbox(
    sandbox_api, organization, run_worker, django_capture_on_commit_callbacks
):
    invitation = play(sandbox_api, run_worker, django_capture_on_commit_callbacks, "email", "bounce@simulator.test")
    assert invitation.status == Invitation.Status.FAILED
    [suppression] = Suppression.objects.all()
    assert (suppression.recipient, suppression.reason, suppression.livemode) == (
        "bounce@simulator.test",
        Suppression.Reason.HARD_BOUNCE,
        False,
    )
    assert Event.objects.filter(type="suppression.created").exists()
    assert [event["type"] for event in timeline(sandbox_api, invitation)[0]["events"]] == ["bounced"]


def test_a_complaint_after_delivery_suppresses_and_leaves_it_delivered(
    sandbox_api, run_worker, django_capture_on_commit_callbacks
):
    invitation = play(sandbox_api, run_worker, django_capture_on_commit_callbacks, "email", "complaint@simulator.test")
    assert invitation.status == Invitation.Status.DELIVERED
    assert list(Suppression.objects.values_list("reason", flat=True)) == [Suppression.Reason.COMPLAINT]


@pytest.mark.parametrize(
    "channel, recipient, reason",
    [
        ("email", "refused@simulator.test", Suppression.Reason.HARD_BOUNCE),
        ("sms", "+15005550009", Suppression.Reason.INVALID_NUMBER),
        ("sms", "+15005550001", Suppression.Reason.INVALID_NUMBER),
    ],
)
def test_a_refusal_at_send_fails_for_good_and_suppresses(
    sandbox_api, run_worker, django_capture_on_commit_callbacks, channel, recipient, reason
):
    invitation = play(sandbox_api, run_worker, django_capture_on_commit_callbacks, channel, recipient)
    assert invitation.status == Invitation.Status.FAILED
    assert invitation.error_message.startswith("Recipient refused by the simulator")
    [attempt] = DeliveryAttempt.objects.all()
    assert (attempt.status, attempt.provider, attempt.tries) == (DeliveryAttempt.Status.FAILED, "simulator", 1)
    assert list(Suppression.objects.values_list("reason", flat=True)) == [reason]


def test_a_flaky_story_fails_twice_then_is_accepted(sandbox_api, run_worker, django_capture_on_commit_callbacks):
    invitation = play(
        sandbox_api, run_worker, django_capture_on_commit_callbacks, "email", "flaky@simulator.test", later=3
    )
    assert invitation.status == Invitation.Status.SENT
    [attempt] = DeliveryAttempt.objects.all()
    assert (attempt.status, attempt.tries, attempt.provider) == (DeliveryAttempt.Status.SIMULATED, 3, "simulator")
    # As with a provider's transient failures: told once as failed with a retry ahead, then sent.
    failed = Event.objects.filter(type="invitation.failed").values_list("data", flat=True)
    assert [data["willRetry"] for data in failed] == [True]
    history = [row["reason"] for row in sandbox_api.get(f"{CREATE_URL}/{invitation.token}/history").json()["data"]]
    assert history == ["created", "delivery_failed", "delivery_failed", "retry_accepted"]


@pytest.mark.parametrize("channel, recipient", [("email", "bounce@simulator.test"), ("sms", "+15005550006")])
def test_live_keys_may_not_use_the_reserved_recipients(api, channel, recipient):
    answer = api.post(CREATE_URL, {"channel": channel, "recipient": recipient}, format="json")
    assert (answer.status_code, answer.json()["error"]["type"]) == (422, "validation_error")
    assert "sandbox simulations" in answer.json()["error"]["fields"]["recipient"][0]
