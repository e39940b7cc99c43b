"""PrivateKey authentication, and tenant and mode isolation that leaks nothing."""

import pytest
from django.core.management import call_command

from accounts.models import ApiKey
from accounts.services import api_key_create, api_key_revoke
from tests.conftest import TEST_ACTOR, client_for
from tests.factories import InvitationFactory

pytestmark = pytest.mark.django_db

URL = "/v1/autodoc/invitations"


def test_a_live_key_works_as_bearer_and_as_basic_user_name(live_key):
    assert client_for(live_key).get(URL).status_code == 200
    assert client_for(live_key, basic=True).get(URL).status_code == 200


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer private_notakey",
        "Bearer ",
        "Basic bm90LWJhc2U2NA==!",
        "Token private_x",
        "Bearer private_sandbox_" + "x" * 500,
    ],
)
def test_missing_or_bad_credentials_get_401_authentication_failed(client, header):
    kwargs = {"HTTP_AUTHORIZATION": header} if header else {}
    response = client.get(URL, **kwargs)
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_failed"


def test_basic_auth_with_a_password_is_refused(live_key):
    import base64

    header = "Basic " + base64.b64encode(f"{live_key}:secret".encode()).decode()
    client = client_for(None)
    client.credentials(HTTP_AUTHORIZATION=header)
    assert client.get(URL).status_code == 401


def test_a_revoked_key_is_refused(organization):
    api_key, raw = api_key_create(organization=organization, livemode=True, actor=TEST_ACTOR)
    api_key_revoke(api_key=api_key, actor=TEST_ACTOR)
    assert client_for(raw).get(URL).status_code == 401


def test_keys_are_stored_only_as_a_hash_with_a_visible_prefix(organization):
    api_key, raw = api_key_create(organization=organization, livemode=False, actor=TEST_ACTOR)
    stored = ApiKey.objects.get(pk=api_key.pk)
    assert raw.startswith("private_sandbox_")
    assert stored.prefix == raw[: len("private_sandbox_") + 6]
    assert raw not in {getattr(stored, f.attname) for f in ApiKey._meta.concrete_fields}
    assert stored.key_hash == ApiKey.hash_secret(raw)


def test_using_a_key_records_its_last_use(live_key):
    client_for(live_key).get(URL)
    assert ApiKey.objects.get(key_hash=ApiKey.hash_secret(live_key)).last_used_at is not None


def _not_found_bodies(client, token):
    """Status and envelope of a GET and a resend, without the requestId every answer has its own of."""
    responses = (client.get(f"{URL}/{token}"), client.post(f"{URL}/{token}/resend"))
    return [(r.status_code, {k: v for k, v in r.json()["error"].items() if k != "requestId"}) for r in responses]


def test_another_organization_and_the_other_mode_get_the_same_404_as_an_unknown_token(
    organization, other_organization, live_key, sandbox_key
):
    invitation = InvitationFactory(organization=organization, livemode=True)
    _, foreign_key = api_key_create(organization=other_organization, livemode=True, actor=TEST_ACTOR)
    unknown = _not_found_bodies(client_for(live_key), "adi_" + "Z" * 24)
    assert unknown[0][0] == 404
    assert _not_found_bodies(client_for(foreign_key), invitation.token) == unknown
    assert _not_found_bodies(client_for(sandbox_key), invitation.token) == unknown
    sandbox_invitation = InvitationFactory(organization=organization, livemode=False)
    assert _not_found_bodies(client_for(live_key), sandbox_invitation.token) == unknown


def test_a_sandbox_key_creates_sandbox_invitations(sandbox_api):
    response = sandbox_api.post(URL, {"channel": "email", "recipient": "a@example.com"}, format="json")
    assert response.json()["livemode"] is False


def test_the_commands_create_an_organization_and_print_a_key_once(capsys):
    call_command("create_organization", "acme", "--name", "Acme")
    capsys.readouterr()
    call_command("create_api_key", "acme", "--sandbox")
    raw = capsys.readouterr().out.strip()
    assert raw.startswith("private_sandbox_")
    assert client_for(raw).get(URL).status_code == 200
