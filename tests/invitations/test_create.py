"""Creating an invitation: what the endpoint refuses, and that a refusal writes nothing."""

import pytest

from delivery.models import DeliveryAttempt
from invitations.models import Invitation

pytestmark = pytest.mark.django_db


def create(api, key: str | None = None, **body):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    payload = {"channel": "email", "recipient": "ana@example.com", **body}
    return api.post("/v1/autodoc/invitations", payload, format="json", **headers)


def test_an_idempotency_key_longer_than_255_characters_is_refused_with_422_and_nothing_is_written(api):
    # Found by fuzzing: the key used to reach the database and fail there as a 500.
    response = create(api, key="k" * 256)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["type"] == "validation_error"
    assert "Idempotency-Key" in error["fields"]
    assert not Invitation.objects.exists()
    assert not DeliveryAttempt.objects.exists()


def test_an_idempotency_key_of_255_characters_replays_the_first_invitation(api):
    first = create(api, key="k" * 255)
    again = create(api, key="k" * 255)
    assert first.status_code == again.status_code == 201
    assert again.json()["token"] == first.json()["token"]
    assert Invitation.objects.count() == 1


@pytest.mark.parametrize(
    "body, field",
    [
        ({"channel": " email"}, "channel"),
        ({"channel": "sms\n", "recipient": "+14155550123"}, "channel"),
        ({"locale": "en\n"}, "locale"),
        ({"locale": " pt-BR"}, "locale"),
    ],
)
def test_a_channel_or_locale_with_surrounding_whitespace_is_refused_and_nothing_is_written(api, body, field):
    # Found by fuzzing: such values were trimmed and accepted although the schema refuses them.
    response = create(api, **body)
    assert response.status_code == 422
    assert field in response.json()["error"]["fields"]
    assert not Invitation.objects.exists()


@pytest.mark.parametrize(
    "change",
    [
        {"recipient": "bea@example.com"},
        {"reference": "crm-2"},
        {"locale": "de"},
        {"workflowToken": "other"},
        {"channel": "sms", "recipient": "+14155550123"},
    ],
    ids=["recipient", "reference", "locale", "workflow", "channel"],
)
def test_a_replay_of_an_idempotency_key_with_any_other_field_is_a_422_and_writes_nothing(api, organization, change):
    from tests.factories import WorkflowFactory

    other = WorkflowFactory(organization=organization, is_default=False, name="Other")
    first = create(api, key="k-1", reference="crm-1", locale="en")
    assert first.status_code == 201
    body = {"reference": "crm-1", "locale": "en", **change}
    if body.get("workflowToken") == "other":
        body["workflowToken"] = other.token
    again = create(api, key="k-1", **body)
    assert again.status_code == 422
    assert again.json()["error"]["type"] == "idempotency_key_reused"
    assert Invitation.objects.count() == 1
    # The same fields again still replay, in any order and spacing.
    same = api.post(
        "/v1/autodoc/invitations",
        '{ "locale" : "en", "reference": "crm-1",  "recipient": "ana@example.com", "channel": "email" }',
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="k-1",
    )
    assert (same.status_code, same.json()["token"], same["Idempotent-Replayed"]) == (201, first.json()["token"], "true")
