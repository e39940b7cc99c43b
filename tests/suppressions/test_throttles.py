"""Suppression writes are throttled per organization and mode: a sandbox key that floods them
leaves the live key's bucket untouched."""

import pytest

pytestmark = pytest.mark.django_db


def test_suppression_writes_are_throttled_per_organization_and_mode(api, sandbox_api, settings):
    settings.SUPPRESSION_WRITE_RATE_PER_ORG = "3/m"
    answers = [
        sandbox_api.post("/v1/suppressions", {"recipient": f"p{n}@example.com"}, format="json") for n in range(4)
    ]
    assert [answer.status_code for answer in answers] == [201, 201, 201, 429]
    assert answers[-1].json()["error"]["scope"] == "organization"
    assert int(answers[-1]["Retry-After"]) >= 1
    # The live mode's bucket is its own.
    assert api.post("/v1/suppressions", {"recipient": "live@example.com"}, format="json").status_code == 201
    lifted = api.get("/v1/suppressions").json()["data"][0]["id"]
    assert api.delete(f"/v1/suppressions/{lifted}").status_code == 204
