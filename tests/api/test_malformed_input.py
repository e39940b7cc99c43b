"""No input is a 500: whatever a client sends, on every endpoint, authenticated or not, the answer
is a 4xx in the envelope and nothing is written."""

import json

import pytest
from rest_framework.test import APIClient

from invitations.models import Invitation
from tests.conftest import client_for
from tests.factories import InvitationFactory

pytestmark = pytest.mark.django_db

DEEP_ARRAY = "[" * 100_000 + "]" * 100_000
DEEP_OBJECT = '{"a": ' * 5_000 + "1" + "}" * 5_000
BODIES = {
    "deeply nested array": DEEP_ARRAY.encode(),
    "deeply nested object": DEEP_OBJECT.encode(),
    "nesting past the limit inside a field": (
        '{"channel": "email", "recipient": ' + "[" * 40 + "]" * 40 + "}"
    ).encode(),
    "a NUL escape in a string": json.dumps({"channel": "email", "recipient": "ana\u0000@example.com"}).encode(),
    "a NUL in a key": json.dumps({"chan\u0000nel": "email"}).encode(),
    "a raw NUL byte": b'{"channel": "email\x00"}',
    "broken UTF-8": b'{"channel": "\xff\xfe\xfd"}',
    "a lone surrogate": b'{"channel": "\\ud800"}',
    "NaN": b'{"channel": NaN}',
    "Infinity": b'{"channel": Infinity}',
    "an integer with 5000 digits": b'{"channel": ' + b"9" * 5000 + b"}",
}
POSTS = [
    "/v1/autodoc/invitations",
    "/v1/auth/token",
    "/v1/auth/token/refresh",
]


@pytest.fixture
def invitation(organization):
    return InvitationFactory(organization=organization)


@pytest.mark.parametrize("path", POSTS)
@pytest.mark.parametrize("body", BODIES.values(), ids=BODIES.keys())
def test_a_malformed_body_is_a_400_on_every_post_authenticated_or_not(api, path, body):
    client = api if path.startswith("/v1/autodoc") else APIClient()
    response = client.post(path, data=body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["type"] == "invalid_request"
    assert not Invitation.objects.exists()


@pytest.mark.parametrize("body", BODIES.values(), ids=BODIES.keys())
def test_a_malformed_body_on_resend_is_never_a_500(api, invitation, body):
    response = api.post(
        f"/v1/autodoc/invitations/{invitation.token}/resend", data=body, content_type="application/json"
    )
    assert response.status_code < 500
    assert "error" in response.json() or response.status_code == 200


QUERIES = [
    "page=100000000000000000000000000",
    "page=-1",
    "page=0",
    "per_page=1000000",
    "page=10000000&per_page=100",
    "page=1e3",
    "search=%00",
    "reference=a%00b",
    "date_from=9999-12-31T23:59:59-23:59",
    "date_to=0001-01-01T00:00:00%2B23:59",
    "date_from=2026-02-30",
    "date_from=%ff%fe",
    "status=%ff",
    "search=" + "a" * 3000,
]


@pytest.mark.parametrize("query", QUERIES)
def test_odd_list_parameters_are_answered_with_a_4xx_or_an_empty_page(api, query):
    response = api.get(f"/v1/autodoc/invitations?{query}")
    assert response.status_code in (200, 400, 422), response.content
    if response.status_code != 200:
        assert response.json()["error"]["type"] in ("invalid_request", "validation_error")


@pytest.mark.parametrize("query", ["from=9999-12-31T23:59:59-23:59", "to=%00", "from=2026-02-30", "from=%ff"])
def test_odd_usage_parameters_are_a_4xx(api, query):
    response = api.get(f"/v1/billing/usage?{query}")
    assert response.status_code in (200, 400, 422), response.content


def test_a_repeated_usage_parameter_is_a_400_like_the_lists(api):
    response = api.get("/v1/billing/usage?from=2026-03-01&from=2026-04-01")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"from": ["Give this parameter once."]}


@pytest.mark.parametrize(
    "token", ["adi_" + "a" * 3000, "adi_%00", "%ff%fe", "adi_..%2F..%2Fetc", "adi_😀", "%2e%2e"], ids=str.__len__
)
def test_odd_tokens_in_the_path_are_a_404(api, token):
    for response in (
        api.get(f"/v1/autodoc/invitations/{token}"),
        api.post(f"/v1/autodoc/invitations/{token}/resend"),
    ):
        assert response.status_code == 404, response.content
        assert response.json()["error"]["type"] == "not_found"


def test_a_url_longer_than_the_limit_is_a_414_in_the_envelope(api):
    response = api.get("/v1/autodoc/invitations?search=" + "a" * 5000)
    assert response.status_code == 414
    assert response.json()["error"]["type"] == "uri_too_long"


@pytest.mark.parametrize("header", ["HTTP_AUTHORIZATION", "HTTP_IDEMPOTENCY_KEY", "HTTP_X_ANYTHING"])
def test_a_header_longer_than_the_limit_is_a_431_in_the_envelope(live_key, header):
    client = APIClient() if header == "HTTP_AUTHORIZATION" else client_for(live_key)
    response = client.post(
        "/v1/autodoc/invitations",
        {"channel": "email", "recipient": "ana@example.com"},
        format="json",
        **{header: "Bearer " + "x" * 9000},
    )
    assert response.status_code == 431
    assert response.json()["error"]["type"] == "request_header_too_large"
    assert not Invitation.objects.exists()


@pytest.mark.parametrize(
    "recipient",
    [
        '"ana maria"@example.com',
        '"ana"@example.com',
        "ana\r\nBcc: everyone@example.com@example.com",
        "ana\t@example.com",
        "an\x7fa@example.com",
        "ana\u0085@example.com",
        "ana..maria@example.com",
        ".ana@example.com",
        "ana@exa\u0000mple.com",
    ],
)
def test_a_recipient_that_could_break_a_mail_header_is_refused_with_422(api, recipient):
    response = api.post("/v1/autodoc/invitations", {"channel": "email", "recipient": recipient}, format="json")
    # A NUL is refused by the JSON parser itself (400); everything else is a value the rules refuse.
    assert response.status_code in (400, 422) if "\x00" in recipient else response.status_code == 422
    assert not Invitation.objects.exists()


@pytest.mark.parametrize("recipient", ["ana@example.com", "ana.maria+crm-4711@example.com", "o'brien@example.ie"])
def test_ordinary_addresses_are_still_taken(api, recipient):
    response = api.post("/v1/autodoc/invitations", {"channel": "email", "recipient": recipient}, format="json")
    assert response.status_code == 201
    assert response.json()["recipient"] == recipient


@pytest.mark.parametrize("junk", ["%00", "x%00y", "%ff", "%e2%80%ae", "%0a"])
@pytest.mark.parametrize(
    "method, path",
    [
        ("get", "/v1/suppressions/sup_{}"),
        ("delete", "/v1/suppressions/sup_{}"),
        ("get", "/v1/webhooks/endpoints/we_{}"),
        ("get", "/v1/webhooks/endpoints/we_{}/deliveries"),
        ("post", "/v1/webhooks/endpoints/we_{}/test"),
        ("get", "/v1/events/evt_{}"),
        ("post", "/v1/events/evt_{}/redeliver"),
        ("get", "/v1/autodoc/invitations/adi_{}"),
        ("post", "/v1/autodoc/invitations/adi_{}/resend"),
    ],
)
def test_junk_in_an_id_path_parameter_is_a_404_never_a_500(api, method, path, junk):
    response = getattr(api, method)(path.format(junk))
    assert response.status_code == 404, response.content
    assert response.json()["error"]["type"] == "not_found"
