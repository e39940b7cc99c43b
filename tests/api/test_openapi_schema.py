"""The OpenAPI description at /v1/openapi.json and the API reference page at /docs/."""

import re
from datetime import timedelta

import pytest
import schemathesis
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from drf_spectacular.validation import validate_schema
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from invitations.models import Invitation
from invitations.serializers import invitation_to_dict
from invitations_project.wsgi import application
from tests.factories import InvitationFactory

pytestmark = pytest.mark.django_db

CONTRACT_ERROR_STATUSES = {"401", "403", "404", "409", "413", "415", "422", "429"}
ERRORS_EVERY_OPERATION_CAN_MEET = {"413", "414", "431", "500", "503"}
ERRORS_EVERY_AUTHENTICATED_OPERATION_CAN_MEET = {"401", "429"}


@pytest.fixture
def openapi(client) -> dict:
    response = client.get("/v1/openapi.json")
    assert response.status_code == 200
    return response.json()


def operations(openapi: dict):
    for path, methods in openapi["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def resolve(openapi: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = openapi["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def api_routes(resolver=None, prefix: str = "") -> set[str]:
    """Every URL route under /v1/, written the way OpenAPI writes paths."""
    routes = set()
    for pattern in (resolver or get_resolver()).url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            routes |= api_routes(pattern, route)
        elif isinstance(pattern, URLPattern) and route.startswith("v1/"):
            routes.add("/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route))
    return routes


def test_the_schema_is_served_to_anyone_and_is_valid_openapi_3(client, openapi):
    validate_schema(openapi)  # raises on anything OpenAPI 3 does not allow
    assert openapi["openapi"].startswith("3.")
    # Even a caller with bad credentials can read it.
    assert client.get("/v1/openapi.json", HTTP_AUTHORIZATION="Bearer private_wrong").status_code == 200


def test_every_api_route_is_described(openapi):
    described = set(openapi["paths"]) | {"/v1/openapi.json"}
    assert api_routes() <= described
    assert {"/v1/autodoc/invitations", "/v1/autodoc/invitations/{token}/resend"} <= described


def test_both_security_schemes_are_declared_and_every_operation_takes_a_private_key(openapi):
    schemes = openapi["components"]["securitySchemes"]
    assert schemes["PrivateKey"] == {**schemes["PrivateKey"], "type": "http", "scheme": "bearer"}
    assert schemes["PrivateKeyBasic"] == {**schemes["PrivateKeyBasic"], "type": "http", "scheme": "basic"}
    assert schemes["JwtAuth"] == {**schemes["JwtAuth"], "type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    for path, method, operation in operations(openapi):
        if path.startswith("/v1/autodoc/"):
            # Alternatives (OR), not both at once.
            assert {"PrivateKey": []} in operation["security"], (method, path)
            assert {"PrivateKeyBasic": []} in operation["security"], (method, path)


def test_every_error_response_is_the_envelope_and_every_429_carries_retry_after(openapi):
    documented = set()
    for path, method, operation in operations(openapi):
        responses = operation["responses"]
        assert ERRORS_EVERY_OPERATION_CAN_MEET <= set(responses), (method, path)
        if any(operation.get("security", [])):
            assert ERRORS_EVERY_AUTHENTICATED_OPERATION_CAN_MEET <= set(responses), (method, path)
        for status, response in responses.items():
            if int(status) < 400:
                continue
            documented.add(status)
            schema = response["content"]["application/json"]["schema"]
            assert resolve(openapi, schema)["allOf"][0] == {"$ref": "#/components/schemas/ErrorEnvelope"}
        if "429" in responses:
            assert responses["429"]["headers"]["Retry-After"]["required"] is True
    assert CONTRACT_ERROR_STATUSES <= documented
    envelope = openapi["components"]["schemas"]["ErrorEnvelope"]
    assert envelope["required"] == ["error"]
    assert openapi["components"]["schemas"]["Error"]["required"] == ["type", "message"]


def test_the_resend_operation_documents_each_of_its_refusals(openapi):
    responses = openapi["paths"]["/v1/autodoc/invitations/{token}/resend"]["post"]["responses"]
    assert {"200", "401", "404", "409", "422", "429"} <= set(responses)
    types_429 = resolve(openapi, responses["429"]["content"]["application/json"]["schema"])["allOf"][1]
    assert types_429["properties"]["error"]["properties"]["type"]["enum"] == ["rate_limited", "cooldown_active"]


def test_the_documented_invitation_has_exactly_the_fields_the_api_returns(openapi, organization):
    documented = openapi["components"]["schemas"]["Invitation"]
    returned = invitation_to_dict(InvitationFactory(organization=organization))
    assert set(documented["properties"]) == set(returned)
    assert set(documented["required"]) == set(returned)


@pytest.fixture
def wsgi_schema(wsgi_app_shares_the_test_transaction):
    return schemathesis.openapi.from_wsgi("/v1/openapi.json", application)


CONFORMANCE = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

RESEND = ("/v1/autodoc/invitations/{token}/resend", "POST")
CREATE = ("/v1/autodoc/invitations", "POST")
LIST = ("/v1/autodoc/invitations", "GET")


@pytest.mark.parametrize(
    "operation, invitation, request_kwargs, status, error_type",
    [
        (RESEND, {}, {"headers": {"Authorization": "Bearer private_not_a_key"}}, 401, "authentication_failed"),
        (RESEND, {}, {"headers": {}}, 401, "authentication_failed"),
        (RESEND, None, {}, 404, "not_found"),
        (RESEND, {"status": Invitation.Status.PENDING, "sent_at": None}, {}, 409, "invalid_status"),
        (RESEND, {"expires_at_ago": timedelta(seconds=1)}, {}, 422, "invitation_expired"),
        (RESEND, {"delivery_attempts": 10}, {}, 422, "max_attempts_reached"),
        (RESEND, {"sent_at_ago": timedelta(seconds=100)}, {}, 429, "cooldown_active"),
        (CREATE, None, {"body": {"channel": 5, "recipient": "a@example.com"}}, 400, "invalid_request"),
        (CREATE, None, {"body": {"channel": "email", "recipient": "x" * 5000}}, 413, "payload_too_large"),
        (CREATE, None, {"body": "channel=email", "media_type": "text/plain"}, 415, "unsupported_media_type"),
        (CREATE, None, {"body": {"channel": "fax", "recipient": "a@example.com"}}, 422, "validation_error"),
        (LIST, None, {"query": {"per_page": 0}}, 422, "validation_error"),
    ],
)
def test_each_error_the_service_answers_matches_its_documentation(
    wsgi_schema, settings, sandbox_key, organization, operation, invitation, request_kwargs, status, error_type
):
    settings.API_MAX_BODY_BYTES = 4096
    path, method = operation
    path_parameters = {}
    if "{token}" in path:
        path_parameters["token"] = "adi_NoSuchInvitation"
        if invitation is not None:
            now = timezone.now()
            fields = {key: value for key, value in invitation.items() if not key.endswith("_ago")}
            if "expires_at_ago" in invitation:
                fields["expires_at"] = now - invitation["expires_at_ago"]
            if "sent_at_ago" in invitation:
                fields["sent_at"] = now - invitation["sent_at_ago"]
            path_parameters["token"] = InvitationFactory(organization=organization, livemode=False, **fields).token
    request_kwargs = dict(request_kwargs)
    headers = request_kwargs.pop("headers", {"Authorization": f"Bearer {sandbox_key}"})
    case = wsgi_schema[path][method].Case(path_parameters=path_parameters or None, headers=headers, **request_kwargs)

    response = case.call()

    assert response.status_code == status
    assert response.json()["error"]["type"] == error_type
    if status == 429:
        remaining = response.json()["error"]["remaining_seconds"]
        assert 79 <= remaining <= 80
        assert response.headers["retry-after"] == [str(remaining)]
    case.validate_response(response, checks=CONFORMANCE)


def test_the_reference_page_loads_its_assets_from_this_service(settings):
    # No collectstatic in tests: let whitenoise find the files where the apps keep them.
    settings.WHITENOISE_USE_FINDERS = True
    client = Client()
    page = client.get("/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    # Swagger UI's start-up script is served apart (the CSP allows no inline script) and names the schema.
    assert "<script>" not in html
    assert "script-src 'self'" in page["Content-Security-Policy"]
    script = client.get("/docs/?script=")
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert '"/v1/openapi.json"' in script.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any(asset.endswith("swagger-ui-bundle.js") for asset in assets)
    assert "http://" not in html and "https://" not in html
    for asset in (a for a in assets if not a.startswith("/docs/?script")):
        assert asset.startswith("/static/drf_spectacular_sidecar/"), asset
        response = client.get(asset)
        assert response.status_code == 200, asset
        assert b"".join(response.streaming_content if response.streaming else [response.content])


def test_every_answer_documents_its_request_id_and_every_post_its_idempotency_key(openapi):
    for path, method, operation in operations(openapi):
        for status, response in operation["responses"].items():
            assert response["headers"]["Request-Id"]["required"] is True, (path, method, status)
        names = [parameter["name"] for parameter in operation.get("parameters", [])]
        authenticated = any(operation.get("security", []))
        if method == "post" and authenticated:
            assert names.count("Idempotency-Key") == 1, path
            assert all("Idempotent-Replayed" in r["headers"] for s, r in operation["responses"].items() if s[0] == "2")
        else:
            assert "Idempotency-Key" not in names, (path, method)


def test_the_throttled_operations_and_only_they_document_rate_limit_headers(openapi):
    throttled = {
        (path, method)
        for path, method, operation in operations(openapi)
        if "RateLimit-Policy" in operation["responses"][next(iter(operation["responses"]))]["headers"]
    }
    assert throttled == {
        ("/v1/autodoc/invitations", "post"),
        ("/v1/autodoc/invitations/batch", "post"),
        ("/v1/autodoc/invitations/{token}", "patch"),
        ("/v1/autodoc/invitations/{token}/resend", "post"),
        ("/v1/auth/token", "post"),
        ("/v1/auth/token/refresh", "post"),
        ("/v1/webhooks/endpoints/{endpoint_id}/test", "post"),
        ("/v1/webhooks/endpoints/{endpoint_id}/recover", "post"),
        ("/v1/events/{event_id}/redeliver", "post"),
        ("/v1/suppressions", "post"),
        ("/v1/suppressions/{suppression_id}", "delete"),
        ("/v1/webhooks/endpoints", "post"),
        ("/v1/webhooks/endpoints/{endpoint_id}", "patch"),
    }


def test_the_timeline_and_the_request_log_are_described(openapi):
    paths = openapi["paths"]
    for path in ("/v1/autodoc/invitations/{token}/attempts", "/v1/autodoc/invitations/{token}/history"):
        assert set(paths[path]["get"]["responses"]) >= {"200", "404"}
    attempt = openapi["components"]["schemas"]["DeliveryAttempt"]["properties"]
    assert set(attempt) >= {"number", "status", "requestedBy", "events", "deliveredAt", "failedAt"}
    assert resolve(openapi, attempt["status"])["enum"] == [
        "queued",
        "sending",
        "accepted",
        "retrying",
        "failed",
        "canceled",
        "simulated",
    ]
    assert {p["name"] for p in paths["/v1/requests"]["get"]["parameters"]} >= {"status", "method", "path", "invitation"}
    locale = openapi["components"]["schemas"]["InvitationCreateInput"]["properties"]["locale"]["description"]
    assert "en, de, fr, es, it, nl, pt, pt-BR, sv, da, pl" in locale


def test_request_bodies_say_what_the_server_refuses(openapi, api):
    """No unknown field, no "" where a field refuses one: and the server does refuse each."""
    schemas = openapi["components"]["schemas"]
    for name in ("InvitationCreateInput", "EndpointCreateInput", "RedeliverInput", "RecoverInput", "TokenInput"):
        assert schemas[name]["additionalProperties"] is False, name
    assert schemas["InvitationCreateInput"]["properties"]["recipient"]["minLength"] == 1
    assert schemas["EndpointCreateInput"]["properties"]["url"]["minLength"] == 1
    assert "minLength" not in schemas["EndpointCreateInput"]["properties"]["description"]  # "" is allowed there
    body = {"channel": "email", "recipient": ""}
    assert api.post("/v1/autodoc/invitations", body, format="json").status_code == 422
    assert api.post("/v1/autodoc/invitations", {**body, "extra": 1}, format="json").status_code == 400
    assert api.post("/v1/webhooks/endpoints", {"url": ""}, format="json").status_code == 422


def test_redeliver_takes_no_body_or_an_object_and_nothing_else(openapi, api, organization):
    from webhooks.models import Event

    event = Event.objects.create(
        organization=organization, livemode=True, type="webhook.test", data={}, created_at=timezone.now()
    )
    url = f"/v1/events/{event.public_id}/redeliver"
    body = openapi["paths"]["/v1/events/{event_id}/redeliver"]["post"]["requestBody"]
    assert resolve(openapi, body["content"]["application/json"]["schema"])["type"] == "object"
    assert api.post(url).status_code == 202
    assert api.post(url, {}, format="json").status_code == 202
    for not_an_object in (False, [], "x", 0):
        assert api.post(url, not_an_object, format="json").status_code == 400, not_an_object


def test_each_event_type_has_its_data_described(openapi):
    from webhooks.events import SUBSCRIBABLE_EVENT_TYPES

    schemas = openapi["components"]["schemas"]
    variants = [resolve(openapi, ref) for ref in schemas["WebhookEvent"]["oneOf"]]
    described = {}
    for variant in variants:
        for event_type in resolve(openapi, variant["properties"]["type"])["enum"]:
            described[event_type] = variant["properties"]["data"]["$ref"].rsplit("/", 1)[1]
    assert set(described) == set(SUBSCRIBABLE_EVENT_TYPES)
    assert described["invitation.resent"] == "InvitationEventData"
    assert described["webhook.test"] == "WebhookTestEventData"
    assert schemas["InvitationEventData"]["properties"]["invitation"]["allOf"][0]["$ref"].endswith("/Invitation")


def test_error_message_is_null_or_text_alike_on_the_invitation_and_its_attempts(openapi):
    schemas = openapi["components"]["schemas"]
    for name in ("Invitation", "DeliveryAttempt"):
        assert schemas[name]["properties"]["errorMessage"]["nullable"] is True, name


LISTS = [
    "/v1/autodoc/invitations",
    "/v1/suppressions",
    "/v1/requests",
    "/v1/events",
    "/v1/webhooks/endpoints",
    "/v1/webhooks/endpoints/{endpoint_id}/deliveries",
]


def test_every_list_declares_its_pagination_as_the_one_pagination_component(openapi, api):
    pagination = openapi["components"]["schemas"]["Pagination"]
    assert set(pagination["required"]) >= {"total", "totalPages", "page", "perPage"}
    listed = {
        path for path, method, operation in operations(openapi) if method == "get" and "per_page" in str(operation)
    }
    assert set(LISTS) <= listed, listed
    for path in listed:
        page = resolve(
            openapi, openapi["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        )
        assert page["required"] == ["data", "pagination"], path
        assert page["properties"]["pagination"] == {"$ref": "#/components/schemas/Pagination"}, path
    for path in ("/v1/requests", "/v1/events", "/v1/webhooks/endpoints"):
        answer = api.get(path).json()
        assert set(answer["pagination"]) <= set(pagination["properties"]), path
        assert set(pagination["required"]) <= set(answer["pagination"]), path
