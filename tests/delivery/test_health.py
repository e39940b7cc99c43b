"""Delivery health: each send counted once by how far it got, the rates, buckets that add up, one
organization and one mode at a time, the rollups that never count twice; GET /v1/stats. Sends go
through the real delivery path (a Postmark-compatible and a Twilio-compatible server on 127.0.0.1, a
real rq worker) and provider webhooks through anymail's view."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from delivery.health import (
    LATENCY_BOUNDS_MS,
    delivery_health,
    failed_send_invitations,
    failure_reason,
    latency_bucket,
    percentile_ms,
)
from delivery.models import DeliveryAttempt, DeliveryStat
from delivery.services.rollups import delivery_stats_refresh
from invitations.models import Invitation
from tests.conftest import client_for, postmark_record, postmark_webhook
from tests.helpers import created

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)
OUTCOMES = ("accepted", "delivered", "bounced", "failed")


@pytest.fixture(autouse=True)
def _always_fresh(settings):
    settings.DELIVERY_STATS_INTERVAL_SECONDS = 0
    settings.DELIVERY_RETRY_INTERVALS = []  # a failed try fails for good: no retry pending


def send_all(run_worker, captured) -> None:
    with captured(execute=True):
        run_worker()


def webhook(client, record_type: str, invitation: Invitation, **fields) -> None:
    attempt = invitation.delivery_attempts_set.get()
    assert postmark_webhook(client, postmark_record(record_type, attempt, **fields)).status_code == 200


@pytest.fixture
def sends(api, client, fake_postmark, fake_twilio, run_worker, django_capture_on_commit_callbacks):
    """Seven live sends of one organization, each as far as its name says, queued at NOW."""
    captured = django_capture_on_commit_callbacks
    fake_postmark.inactive = {"gone1@example.com", "gone2@example.com"}
    with time_machine.travel(NOW, tick=True) as clock:
        made = {
            name: created(api, captured, channel=channel, recipient=recipient)
            for name, channel, recipient in [
                ("accepted", "email", "ana@example.com"),
                ("delivered", "email", "bo@example.com"),
                ("opened", "email", "cy@example.com"),
                ("bounced", "email", "dee@example.com"),
                ("failed1", "email", "gone1@example.com"),
                ("failed2", "email", "gone2@example.com"),
                ("sms", "sms", "+4915112345678"),
            ]
        }
        send_all(run_worker, captured)
        clock.shift(timedelta(seconds=3))
        at = (NOW + timedelta(seconds=3)).isoformat().replace("+00:00", "Z")
        webhook(client, "Delivery", made["delivered"], DeliveredAt=at)
        webhook(client, "Open", made["opened"], ReceivedAt=at, DeliveredAt=at, BouncedAt=at, FirstOpen=True)
        webhook(client, "Bounce", made["bounced"], Type="HardBounce", TypeCode=1, BouncedAt=at, ID=77)
        yield made, clock


def test_each_send_counts_once_by_how_far_it_got_and_the_rates_are_over_the_accepted(api, sends):
    made, _clock = sends
    body = api.get("/v1/stats?period=24h").json()
    email, sms = body["byChannel"]["email"], body["byChannel"]["sms"]
    assert {k: email[k] for k in OUTCOMES} == {"accepted": 1, "delivered": 2, "bounced": 1, "failed": 2}
    assert (email["deliveryRate"], email["bounceRate"]) == (0.5, 0.25)  # 2 and 1 of 4 accepted
    assert {k: sms[k] for k in OUTCOMES} == {"accepted": 1, "delivered": 0, "bounced": 0, "failed": 0}
    assert (sms["deliveryRate"], sms["bounceRate"]) == (0.0, 0.0)
    # The buckets add up to the channels' totals; everything is in the hour it was queued in.
    assert len(body["buckets"]) == 24
    assert body["buckets"][-1]["start"] == "2026-11-20T14:00:00Z"
    assert body["buckets"][0]["start"] == "2026-11-19T15:00:00Z"
    for outcome in OUTCOMES:
        total = sum(bucket[outcome] for bucket in body["buckets"])
        assert total == email[outcome] + sms[outcome] == body["buckets"][-1][outcome]
    assert set(body["byProvider"]) == {"postmark", "twilio"}
    assert body["byProvider"]["postmark"]["failed"] == 2
    # Both refused addresses read as one reason, once each; the bounce is a reason of its own.
    reasons = {row["reason"]: row["count"] for row in body["topFailureReasons"]}
    assert sorted(reasons.values()) == [1, 2]
    [refused] = [reason for reason, count in reasons.items() if count == 2]
    assert "inactive" in refused and "gone1" not in refused and "<address>" in refused
    # Accepted within the test's clock; delivered about 3 s after acceptance.
    assert body["timeToAccepted"]["p50Ms"] is not None and body["timeToAccepted"]["p95Ms"] < 3000
    assert 2000 <= body["timeToDelivered"]["p50Ms"] <= 4500


def test_sandbox_and_other_organizations_are_never_counted(api, sends, sandbox_api, other_organization):
    from accounts.services import api_key_create
    from tests.conftest import TEST_ACTOR

    made, _clock = sends
    other = client_for(api_key_create(organization=other_organization, livemode=True, name="k", actor=TEST_ACTOR)[1])
    sandbox_body = sandbox_api.get("/v1/stats?period=24h").json()
    other_body = other.get("/v1/stats?period=7d").json()
    for body in (sandbox_body, other_body):
        assert all(sum(row[k] for k in OUTCOMES) == 0 for row in body["byChannel"].values())
        assert body["topFailureReasons"] == [] and body["byProvider"] == {}
    assert len(other_body["buckets"]) == 7
    # Across organizations (the console's "all"), the organization's own sends are all there.
    everyone = delivery_health(period="24h", livemode=True)
    assert everyone.totals.total == 7
    assert delivery_health(period="24h", livemode=False).totals.total == 0


def test_a_later_event_moves_a_send_on_and_refreshing_again_never_counts_twice(api, client, sends):
    made, clock = sends
    assert api.get("/v1/stats").json()["byChannel"]["email"]["accepted"] == 1
    # Later, the accepted one is delivered: it moves from accepted to delivered, in its own hour.
    clock.shift(timedelta(hours=2))
    webhook(client, "Delivery", made["accepted"])
    body = api.get("/v1/stats").json()
    email = body["byChannel"]["email"]
    assert (email["accepted"], email["delivered"]) == (0, 3)
    assert body["buckets"][-3]["delivered"] == 3 and body["buckets"][-1]["delivered"] == 0
    before = list(DeliveryStat.objects.values_list("hour", "channel", "provider", *OUTCOMES).order_by("pk"))
    delivery_stats_refresh()
    delivery_stats_refresh(full=True)
    delivery_stats_refresh(full=True)
    after = sorted(DeliveryStat.objects.values_list("hour", "channel", "provider", *OUTCOMES))
    assert after == sorted(before)
    assert api.get("/v1/stats").json()["byChannel"] == body["byChannel"]


def test_seven_and_thirty_days_go_by_day_and_hold_the_same_sends(api, sends):
    made, _clock = sends
    week = api.get("/v1/stats?period=7d").json()
    month = api.get("/v1/stats?period=30d").json()
    assert [len(week["buckets"]), len(month["buckets"])] == [7, 30]
    assert week["buckets"][-1]["start"] == month["buckets"][-1]["start"] == "2026-11-20T00:00:00Z"
    assert month["buckets"][0]["start"] == "2026-10-22T00:00:00Z"
    assert week["byChannel"] == month["byChannel"] == api.get("/v1/stats?period=24h").json()["byChannel"]


def test_a_send_still_queued_or_canceled_is_not_counted_until_it_gets_somewhere(
    api, django_capture_on_commit_callbacks
):
    invitation = created(api, channel="email", recipient="later@example.com")  # its job never ran
    assert api.get("/v1/stats").json()["byChannel"]["email"] == {
        "accepted": 0,
        "delivered": 0,
        "bounced": 0,
        "failed": 0,
        "deliveryRate": None,
        "bounceRate": None,
    }
    assert invitation.delivery_attempts_set.get().status == DeliveryAttempt.Status.QUEUED


def test_an_unknown_period_is_a_validation_error_and_the_endpoint_is_in_the_schema(api):
    answer = api.get("/v1/stats?period=1y")
    assert answer.status_code == 422
    assert answer.json()["error"]["type"] == "validation_error"
    assert "period" in answer.json()["error"]["fields"]
    assert client_for(None).get("/v1/stats").status_code == 401
    schema = api.get("/v1/openapi.json").json()
    operation = schema["paths"]["/v1/stats"]["get"]
    assert [p["name"] for p in operation["parameters"]] == ["period"]
    assert "topFailureReasons" in schema["components"]["schemas"]["Stats"]["properties"]


def test_the_failure_reason_behind_a_count_names_exactly_its_invitations(sends, organization):
    made, _clock = sends
    delivery_stats_refresh()
    body = delivery_health(period="24h", livemode=True, organization_id=organization.pk)
    [(refused, count)] = [(reason, n) for reason, n in body.top_failure_reasons if n == 2]
    invitations = failed_send_invitations(
        reason=refused, start=body.start, end=body.end, livemode=True, organization_id=organization.pk
    )
    assert set(invitations) == {made["failed1"], made["failed2"]}
    assert not failed_send_invitations(reason=refused, start=body.start, end=body.end, livemode=False).exists()


def test_failure_reasons_group_the_providers_words():
    one = failure_reason("Twilio error 21211: The 'To' number +15005550001 is not a valid phone number.")
    two = failure_reason("Twilio error 21211: The 'To' number +4915112345678 is not a valid phone number.")
    assert one == two == "Twilio error 21211: The 'To' number <number> is not a valid phone number."
    assert failure_reason("Inactive: ana@example.com (retries exhausted)") == failure_reason("Inactive: bo@x.org")
    assert failure_reason("  Timed out\n  after 10 s ") == "Timed out after 10 s"
    assert len(failure_reason("x" * 500)) == 200


def test_percentiles_are_read_within_a_bucket_of_the_exact_figure():
    durations = [20 * n for n in range(1, 1001)]  # 20 ms to 20 s, evenly
    histogram: dict[int, int] = {}
    for duration in durations:
        histogram[latency_bucket(duration)] = histogram.get(latency_bucket(duration), 0) + 1
    for quantile, exact in ((0.5, 10_000), (0.95, 19_000)):
        assert abs(percentile_ms(histogram, quantile) - exact) <= exact * 0.1
    assert percentile_ms({}, 0.5) is None
    assert all(b > a for a, b in zip(LATENCY_BOUNDS_MS, LATENCY_BOUNDS_MS[1:], strict=False))


def test_a_read_leaves_a_long_recompute_to_the_periodic_job_and_old_hours_are_never_recomputed(api, organization):
    from tests.factories import InvitationFactory

    now = timezone.now()

    def accepted_at(hours_ago: float) -> None:
        invitation = InvitationFactory(organization=organization)
        attempt = DeliveryAttempt.objects.create(
            invitation=invitation, number=1, channel="email", recipient=invitation.recipient, livemode=True
        )
        queued = now - timedelta(hours=hours_ago)
        DeliveryAttempt.objects.filter(pk=attempt.pk).update(
            status=DeliveryAttempt.Status.ACCEPTED, created_at=queued, accepted_at=queued, updated_at=now
        )

    for hours_ago in (1, 2, 3, 4, 5):
        accepted_at(hours_ago)
    accepted_at(24 * 40)  # past every period
    # Five hours changed: more than a read takes on where a scheduler runs (REDIS_URL is set here).
    assert api.get("/v1/stats").json()["byChannel"]["email"]["accepted"] == 0
    assert not DeliveryStat.objects.exists()
    refreshed = delivery_stats_refresh()  # the periodic job's
    assert (refreshed.hours, refreshed.attempts) == (5, 5)
    assert api.get("/v1/stats").json()["byChannel"]["email"]["accepted"] == 5
    assert delivery_stats_refresh(full=True).hours == 5
