"""Date filters of the list endpoint: any well-formed ISO 8601 bound is answered, never a 500."""

from datetime import UTC, datetime

import pytest

from tests.factories import InvitationFactory

pytestmark = pytest.mark.django_db


def listed_tokens(api, **params) -> list[str]:
    response = api.get("/v1/autodoc/invitations", params)
    assert response.status_code == 200, response.content
    return [row["token"] for row in response.json()["data"]]


def test_date_filter_with_an_offset_postgresql_cannot_store_is_applied_as_that_instant_in_utc(api, organization):
    # Found by fuzzing: PostgreSQL refuses offsets beyond ±15:59, which ISO 8601 allows.
    before = InvitationFactory(organization=organization, created_at=datetime(2026, 3, 1, 8, 0, tzinfo=UTC))
    after = InvitationFactory(organization=organization, created_at=datetime(2026, 3, 1, 9, 0, tzinfo=UTC))
    # 2026-03-02T05:00+20:19 is 2026-03-01T08:41Z.
    assert listed_tokens(api, date_from="2026-03-02T05:00:00+20:19") == [after.token]
    assert listed_tokens(api, date_to="2026-03-02T05:00:00+20:19") == [before.token]


def test_a_bare_date_to_includes_that_whole_day(api, organization):
    late_that_day = InvitationFactory(organization=organization, created_at=datetime(2026, 3, 1, 23, 59, tzinfo=UTC))
    InvitationFactory(organization=organization, created_at=datetime(2026, 3, 2, 0, 0, tzinfo=UTC))
    assert listed_tokens(api, date_to="2026-03-01") == [late_that_day.token]


@pytest.mark.parametrize(
    "params, selects_all",
    [
        ({"date_to": "9999-12-31"}, True),
        ({"date_to": "9999-12-31T23:59:59.999999"}, True),
        ({"date_from": "0001-01-01T00:00:00+05:00"}, True),
        ({"date_from": "9999-12-31T23:00:00-05:00"}, False),
        ({"date_to": "0001-01-01T03:00:00+05:00"}, False),
    ],
)
def test_date_bounds_at_the_edge_of_the_calendar_select_everything_or_nothing(api, organization, params, selects_all):
    invitation = InvitationFactory(organization=organization)
    assert listed_tokens(api, **params) == ([invitation.token] if selects_all else [])
