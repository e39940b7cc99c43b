"""Date filters of the list endpoint: any well-formed ISO 8601 bound is answered, never a 500."""

from datetime import UTC, datetime, timedelta

import pytest

from tests.factories import InvitationFactory
from tests.helpers import T0

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


@pytest.mark.parametrize("name", ["reference", "workflow_token", "search"])
@pytest.mark.parametrize("value", ["", " ", "\t \x1f"])
def test_a_text_filter_left_empty_or_only_whitespace_is_not_applied(api, organization, name, value):
    # Found by fuzzing: whitespace-only values were trimmed to nothing and refused with 422.
    invitation = InvitationFactory(organization=organization, reference="crm-1")
    assert listed_tokens(api, **{name: value}) == [invitation.token]


@pytest.mark.parametrize("value", [" 2026-03-01", "2026-03-01 ", "  "])
def test_a_date_bound_with_surrounding_whitespace_is_refused(api, value):
    response = api.get("/v1/autodoc/invitations", {"date_from": value})
    assert response.status_code == 422
    assert "date_from" in response.json()["error"]["fields"]


def test_a_filter_given_more_than_once_is_refused_not_reduced_to_one_value(api, organization):
    # Found by fuzzing: ?reference=a&reference=b used to filter on b alone.
    InvitationFactory(organization=organization, reference="b")
    response = api.get("/v1/autodoc/invitations?reference=a&reference=b&status=sent")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request"
    assert list(error["fields"]) == ["reference"]


@pytest.mark.django_db
def test_past_the_count_cap_the_total_says_so_and_later_pages_still_answer(api, organization, settings):
    settings.LIST_COUNT_CAP = 5
    made = [InvitationFactory(organization=organization, created_at=T0 - timedelta(minutes=n)) for n in range(8)]
    first = api.get("/v1/autodoc/invitations", {"per_page": 3}).json()
    assert first["pagination"] == {"total": 5, "totalPages": 2, "page": 1, "perPage": 3, "totalCapped": True}
    third = api.get("/v1/autodoc/invitations", {"per_page": 3, "page": 3}).json()
    assert [row["token"] for row in third["data"]] == [invitation.token for invitation in made[6:]]
    settings.LIST_COUNT_CAP = 8
    exact = api.get("/v1/autodoc/invitations", {"per_page": 3}).json()["pagination"]
    assert (exact["total"], exact["totalCapped"]) == (8, False)
