"""GET /v1/billing/usage?from=&to=: counts and amounts per event type, the caller's organization and mode."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db.models import Count, Sum

from accounts.services import api_key_create
from billing.models import BillingEvent, Price
from tests.conftest import TEST_ACTOR, client_for
from tests.factories import OrganizationFactory
from tests.helpers import T0

pytestmark = pytest.mark.django_db


@pytest.fixture
def prices(db):
    Price.objects.create(event_type="send.email", amount=Decimal("0.0125"), currency="EUR")
    Price.objects.create(event_type="send.sms", amount=Decimal("0.0700"), currency="EUR")


def event(organization, event_type, created_at, amount="0.0125", currency="EUR"):
    return BillingEvent.objects.create(
        organization=organization,
        event_type=event_type,
        source_id=f"attempt:{BillingEvent.objects.count() + 1}-{created_at.timestamp()}",
        amount=Decimal(amount),
        currency=currency,
        created_at=created_at,
    )


def usage(api, **params):
    return api.get("/v1/billing/usage", params)


def lines(response):
    assert response.status_code == 200, response.json()
    return {(line["eventType"], line["currency"]): (line["count"], line["amount"]) for line in response.json()["data"]}


def test_the_usage_totals_match_the_events_billed_through_the_real_pipeline(
    api, organization, prices, run_worker, django_capture_on_commit_callbacks
):
    with time_machine.travel(T0, tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            email = api.post(
                "/v1/autodoc/invitations", {"channel": "email", "recipient": "a@example.com"}, format="json"
            )
            api.post("/v1/autodoc/invitations", {"channel": "sms", "recipient": "+14155550123"}, format="json")
        run_worker()
    for minutes in (3, 6):
        with time_machine.travel(T0 + timedelta(minutes=minutes), tick=False):
            with django_capture_on_commit_callbacks(execute=True):
                api.post(f"/v1/autodoc/invitations/{email.json()['token']}/resend")
            run_worker()
    response = usage(api, **{"from": "2026-03-01", "to": "2026-03-31"})
    expected = {
        (row["event_type"], row["currency"]): (row["n"], str(row["total"]))
        for row in BillingEvent.objects.values("event_type", "currency").annotate(n=Count("id"), total=Sum("amount"))
    }
    assert expected == {("send.email", "EUR"): (3, "0.0375"), ("send.sms", "EUR"): (1, "0.0700")}
    assert lines(response) == expected
    assert response.json()["totals"] == [{"count": 4, "amount": "0.1075", "currency": "EUR"}]
    assert response.json()["livemode"] is True
    assert response.json()["organization"] == organization.slug


def test_usage_counts_only_the_period_asked_for(api, organization, prices):
    event(organization, "send.email", datetime(2026, 2, 28, 23, 59, 59, tzinfo=UTC))
    event(organization, "send.email", datetime(2026, 3, 1, 0, 0, 0, tzinfo=UTC))
    event(organization, "send.email", datetime(2026, 3, 31, 23, 59, 59, tzinfo=UTC))
    event(organization, "send.sms", datetime(2026, 3, 15, 12, 0, 0, tzinfo=UTC), amount="0.0700")
    event(organization, "send.email", datetime(2026, 4, 1, 0, 0, 0, tzinfo=UTC))
    # A bare date as "to" includes that whole day.
    march = usage(api, **{"from": "2026-03-01", "to": "2026-03-31"})
    assert lines(march) == {("send.email", "EUR"): (2, "0.0250"), ("send.sms", "EUR"): (1, "0.0700")}
    assert (march.json()["from"], march.json()["to"]) == ("2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z")
    # Datetimes make a half-open period: from is included, to is not.
    noon = usage(api, **{"from": "2026-03-01T00:00:00Z", "to": "2026-03-15T12:00:00Z"})
    assert lines(noon) == {("send.email", "EUR"): (1, "0.0125"), ("send.sms", "EUR"): (0, "0.0000")}
    # A datetime with an offset is converted to UTC.
    offset = usage(api, **{"from": "2026-03-01T01:00:00+01:00", "to": "2026-03-01T01:00:01+01:00"})
    assert lines(offset)[("send.email", "EUR")] == (1, "0.0125")


def test_usage_defaults_to_the_current_calendar_month(api, organization, prices):
    event(organization, "send.email", datetime(2026, 2, 20, tzinfo=UTC))
    event(organization, "send.email", datetime(2026, 3, 1, 8, tzinfo=UTC))
    with time_machine.travel(T0, tick=False):
        response = usage(api)
    assert lines(response)[("send.email", "EUR")] == (1, "0.0125")
    assert (response.json()["from"], response.json()["to"]) == ("2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z")


def test_usage_shows_only_the_callers_organization(api, organization, prices):
    other = OrganizationFactory()
    event(other, "send.email", T0)
    event(other, "send.sms", T0, amount="0.0700")
    event(organization, "send.sms", T0, amount="0.0700")
    response = usage(api, **{"from": "2026-03-01", "to": "2026-03-31"})
    assert lines(response) == {("send.email", "EUR"): (0, "0.0000"), ("send.sms", "EUR"): (1, "0.0700")}


def test_a_sandbox_key_sees_zero_usage(sandbox_api, organization, prices):
    event(organization, "send.email", T0)
    response = usage(sandbox_api, **{"from": "2026-03-01", "to": "2026-03-31"})
    assert response.json()["livemode"] is False
    assert lines(response) == {("send.email", "EUR"): (0, "0.0000"), ("send.sms", "EUR"): (0, "0.0000")}
    assert response.json()["totals"] == [{"count": 0, "amount": "0.0000", "currency": "EUR"}]


def test_usage_lists_each_currency_apart_when_the_price_changed_currency(api, organization, prices):
    event(organization, "send.email", T0, amount="0.0125", currency="EUR")
    event(organization, "send.email", T0 + timedelta(days=1), amount="0.0150", currency="USD")
    event(organization, "send.email", T0 + timedelta(days=2), amount="0.0150", currency="USD")
    response = usage(api, **{"from": "2026-03-01", "to": "2026-03-31"})
    assert lines(response) == {
        ("send.email", "EUR"): (1, "0.0125"),
        ("send.email", "USD"): (2, "0.0300"),
        ("send.sms", "EUR"): (0, "0.0000"),
    }
    assert response.json()["totals"] == [
        {"count": 1, "amount": "0.0125", "currency": "EUR"},
        {"count": 2, "amount": "0.0300", "currency": "USD"},
    ]


def test_an_empty_event_type_is_shown_in_the_organizations_own_currency(api, organization, prices):
    Price.objects.create(organization=organization, event_type="send.sms", amount=Decimal("0.0600"), currency="USD")
    assert lines(usage(api, **{"from": "2026-03-01", "to": "2026-03-31"}))[("send.sms", "USD")] == (0, "0.0000")


@pytest.mark.parametrize(
    "params, field",
    [
        ({"from": "2026-03-31", "to": "2026-03-01"}, "to"),
        ({"from": "2026-03-01T10:00:00Z", "to": "2026-03-01T10:00:00Z"}, "to"),
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-02-30"}, "to"),
    ],
)
def test_a_bad_period_is_a_validation_error_naming_the_field(api, params, field):
    response = usage(api, **params)
    assert response.status_code == 422
    assert response.json()["error"]["type"] == "validation_error"
    assert field in response.json()["error"]["fields"]


def test_usage_needs_credentials(client):
    response = client.get("/v1/billing/usage")
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_failed"


def test_a_revoked_key_cannot_read_usage(organization):
    from accounts.services import api_key_revoke

    api_key, raw = api_key_create(organization=organization, livemode=True, actor=TEST_ACTOR)
    api_key_revoke(api_key=api_key, actor=TEST_ACTOR)
    assert client_for(raw).get("/v1/billing/usage").status_code == 401
