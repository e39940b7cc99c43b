"""SMS recipients are checked and stored in E.164 at creation."""

import pytest

from invitations.models import Invitation
from tests.helpers import create

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "written, e164",
    [
        ("+49 151 12345678", "+4915112345678"),
        ("+49 (0)30 901820", "+4930901820"),
        ("+1 (415) 523-8886", "+14155238886"),
        ("  +44 20 7946 0958 ", "+442079460958"),
    ],
)
def test_a_phone_number_is_stored_in_e164(api, written, e164):
    response = create(api, recipient=written, channel="sms")
    assert response.status_code == 201, response.json()
    assert response.json()["recipient"] == e164
    assert Invitation.objects.get().recipient == e164


@pytest.mark.parametrize("impossible", ["+49 1", "+1 555", "+999 12345678", "12345", "call me"])
def test_an_impossible_phone_number_is_a_422_naming_the_field(api, impossible):
    response = create(api, recipient=impossible, channel="sms")
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["type"] == "validation_error"
    assert "recipient" in error["fields"]
    assert not Invitation.objects.exists()


def test_a_number_without_country_code_uses_the_default_region_when_one_is_set(api, settings):
    settings.SMS_DEFAULT_REGION = "DE"
    response = create(api, recipient="0151 12345678", channel="sms")
    assert response.json()["recipient"] == "+4915112345678"
