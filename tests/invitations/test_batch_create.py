"""POST /v1/autodoc/invitations/batch: each item answered as its own create would be, the valid ones
made in one transaction with their sends queued in delivery batches, its own throttle bucket, and an
Idempotency-Key for the whole batch."""

from datetime import timedelta

import pytest
import time_machine

from delivery.models import DeliveryAttempt
from invitations.models import Invitation, InvitationEvent
from suppressions.models import Suppression
from tests.conftest import queued_attempt_ids
from tests.helpers import CREATE_URL, T0
from webhooks.models import Event

pytestmark = pytest.mark.django_db

BATCH_URL = f"{CREATE_URL}/batch"


def batch(api, items, **headers):
    return api.post(BATCH_URL, {"invitations": items}, format="json", **headers)


def test_each_item_is_answered_as_its_own_create_and_the_valid_ones_are_made(
    api, organization, delivery_queue, settings, django_capture_on_commit_callbacks
):
    settings.DELIVERY_BATCH_SIZE = 2
    Suppression.objects.create(
        organization=organization,
        livemode=True,
        channel="email",
        recipient="bounced@example.com",
        reason=Suppression.Reason.HARD_BOUNCE,
        created_at=T0 - timedelta(days=1),
    )
    items = [
        {"channel": "email", "recipient": "a@example.com", "reference": "crm-1"},
        {"channel": "email", "recipient": "not an address"},
        {"channel": "sms", "recipient": "+4915112345678", "locale": "de"},
        {"channel": "email", "recipient": "bounced@example.com"},
        {"channel": "email", "recipient": 5},
        "not an object",
        {"channel": "email", "recipient": "later@example.com", "sendAt": "2026-03-02T12:00:00Z"},
        {"channel": "email", "recipient": "b@example.com", "unknown": 1},
        {"channel": "email", "recipient": "c@example.com"},
    ]
    with time_machine.travel(T0, tick=False), django_capture_on_commit_callbacks(execute=True):
        answer = batch(api, items)
    assert answer.status_code == 200, answer.json()
    body = answer.json()
    assert [(row["index"], row["status"]) for row in body["data"]] == [
        (0, 201),
        (1, 422),
        (2, 201),
        (3, 422),
        (4, 400),
        (5, 400),
        (6, 201),
        (7, 400),
        (8, 201),
    ]
    assert (body["created"], body["failed"]) == (4, 5)
    errors = {row["index"]: row["error"] for row in body["data"] if "error" in row}
    assert errors[1]["type"] == "validation_error" and "recipient" in errors[1]["fields"]
    assert errors[3]["type"] == "recipient_suppressed" and errors[3]["reason"] == "hard_bounce"
    assert errors[4]["type"] == "invalid_request"
    made = {row["index"]: row["invitation"] for row in body["data"] if "invitation" in row}
    assert made[0]["reference"] == "crm-1" and made[2]["locale"] == "de" and made[6]["sendAt"] is not None
    # Exactly what single creates would have made: rows, audit, events; sends for the unscheduled.
    assert Invitation.objects.count() == 4
    assert InvitationEvent.objects.filter(reason="created").count() == 4
    assert Event.objects.filter(type="invitation.created").count() == 4
    attempts = DeliveryAttempt.objects.all()
    assert sorted(a.recipient for a in attempts) == ["+4915112345678", "a@example.com", "c@example.com"]
    assert sorted(queued_attempt_ids(delivery_queue)) == sorted(a.pk for a in attempts)
    assert [len(job.args[0]) if isinstance(job.args[0], list) else 1 for job in delivery_queue.get_jobs()] == [2, 1]


@pytest.mark.parametrize("count", [0, 501])
def test_an_empty_or_oversized_batch_is_refused_and_makes_nothing(api, count):
    items = [{"channel": "email", "recipient": f"p{n}@example.com"} for n in range(count)]
    answer = batch(api, items)
    assert (answer.status_code, answer.json()["error"]["type"]) == (422, "validation_error")
    assert "invitations" in answer.json()["error"]["fields"]
    assert not Invitation.objects.exists()


def test_an_idempotency_key_covers_the_whole_batch(api):
    items = [{"channel": "email", "recipient": f"p{n}@example.com"} for n in range(3)]
    first = batch(api, items, HTTP_IDEMPOTENCY_KEY="import-7")
    again = batch(api, items, HTTP_IDEMPOTENCY_KEY="import-7")
    assert first.status_code == again.status_code == 200
    assert again["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert Invitation.objects.count() == 3


def test_the_batch_has_its_own_bucket_per_organization_and_mode(api, sandbox_api, settings):
    settings.BATCH_CREATE_RATE_PER_ORG = "2/m"
    settings.RESEND_RATE_PER_IP = "1000/m"  # the per-IP bucket, shared with every test from 127.0.0.1, aside
    item = [{"channel": "email", "recipient": "a@example.com"}]
    assert [batch(api, item).status_code for _ in range(3)] == [200, 200, 429]
    refused = batch(api, item)
    assert refused.json()["error"]["scope"] == "organization"
    assert 'name="organization"' in refused["RateLimit-Policy"]
    assert batch(sandbox_api, item).status_code == 200  # the sandbox's bucket is its own
    assert api.post(CREATE_URL, item[0], format="json").status_code == 201  # so is the single create's
