"""Bad input gets a 4xx envelope, never a 500, and writes nothing."""

import pytest

from delivery.models import DeliveryAttempt
from invitations.models import Invitation, InvitationEvent
from tests.factories import InvitationFactory

pytestmark = pytest.mark.django_db

URL = "/v1/autodoc/invitations"


@pytest.fixture(autouse=True)
def _nothing_written(db):
    yield
    assert not InvitationEvent.objects.filter(reason="created").exists()
    assert not DeliveryAttempt.objects.exists()


def post_raw(api, body: bytes | str, content_type="application/json"):
    return api.generic("POST", URL, body, content_type=content_type)


@pytest.mark.parametrize(
    "body",
    ['{"channel": "email", "recipient": ', "not json", "\x00\x01", '{"channel": "email"}}'],
)
def test_malformed_json_is_a_400_invalid_request(api, body):
    response = post_raw(api, body)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"channel": 1, "recipient": "a@example.com"}, "channel"),
        ({"channel": "email", "recipient": ["a@example.com"]}, "recipient"),
        ({"channel": "email", "recipient": None}, "recipient"),
        ({"channel": "email", "recipient": "a@example.com", "reference": 4711}, "reference"),
        ({"channel": "email", "recipient": "a@example.com", "colour": "red"}, "colour"),
    ],
)
def test_wrong_types_are_a_400_naming_the_field(api, body, field):
    response = api.post(URL, body, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request"
    assert field in error["fields"]


@pytest.mark.parametrize("body", ["[1, 2]", '"a string"', "42", "null"])
def test_a_body_that_is_not_an_object_is_a_400(api, body):
    response = post_raw(api, body)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"channel": "fax", "recipient": "a@example.com"}, "channel"),
        ({"channel": "email", "recipient": "not-an-email"}, "recipient"),
        ({"channel": "email", "recipient": "a@b@example.com"}, "recipient"),
        ({"channel": "sms", "recipient": "12345"}, "recipient"),
        ({"channel": "sms", "recipient": "+1 000 000 0000"}, "recipient"),
        ({"channel": "sms", "recipient": "call me"}, "recipient"),
        ({"channel": "email", "recipient": "a@example.com", "locale": "english please"}, "locale"),
        ({"channel": "email", "recipient": "a@example.com", "reference": "x" * 201}, "reference"),
        ({"recipient": "a@example.com"}, "channel"),
        ({"channel": "email", "recipient": ""}, "recipient"),
    ],
)
def test_invalid_values_are_a_422_naming_the_field(api, body, field):
    response = api.post(URL, body, format="json")
    assert response.status_code == 422, response.json()
    error = response.json()["error"]
    assert error["type"] == "validation_error"
    assert field in error["fields"]
    assert not Invitation.objects.exists()


def test_a_body_over_one_megabyte_is_a_413(api):
    body = '{"channel": "email", "recipient": "a@example.com", "reference": "' + "x" * (1024 * 1024) + '"}'
    response = post_raw(api, body)
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "payload_too_large"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"])
def test_a_non_json_content_type_is_a_415(api, content_type):
    response = post_raw(api, "channel=email&recipient=a@example.com", content_type=content_type)
    assert response.status_code == 415
    assert response.json()["error"]["type"] == "unsupported_media_type"


@pytest.mark.parametrize(
    "token",
    ["adi_%00", "adi_'; DROP TABLE x;--", "adi_%F0%9F%92%A5", "..%2F..%2Fetc", "adi_" + "a" * 300, "adi_a-b", "%20"],
)
def test_odd_characters_in_the_token_are_a_404_not_a_500(api, organization, token):
    InvitationFactory(organization=organization)
    for response in (api.get(f"{URL}/{token}"), api.post(f"{URL}/{token}/resend")):
        assert response.status_code == 404
        assert response.json()["error"]["type"] == "not_found"


def test_an_unsupported_method_is_a_405_envelope(api):
    response = api.delete(URL)
    assert response.status_code == 405
    assert response.json()["error"]["type"] == "method_not_allowed"


def test_an_unknown_api_path_is_a_404_envelope(api):
    response = api.get("/v1/autodoc/nothing-here/at/all")
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found"
