"""One registry of error codes feeds the exception classes and the OpenAPI error responses."""

import pytest

import accounts.exceptions  # noqa: F401  (every module that defines refusals is loaded)
import invitations.exceptions  # noqa: F401
from accounts.principals import Actor
from api.error_codes import CODES, codes_for_status
from api.errors import ApiError
from invitations.exceptions import InvalidTransition
from invitations.models import Invitation
from invitations.services import transition_apply
from tests.factories import InvitationFactory


def all_subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from all_subclasses(sub)


def test_every_refusal_class_answers_with_a_registered_code():
    for error_class in all_subclasses(ApiError):
        code = error_class.code
        assert CODES[code.type] is code, error_class
        assert (error_class.code.type, error_class.code.status) == (code.type, code.status)


@pytest.mark.django_db
def test_a_forbidden_move_is_refused_with_its_own_code(organization):
    invitation = InvitationFactory(organization=organization, status=Invitation.Status.COMPLETED)
    with pytest.raises(InvalidTransition) as raised:
        transition_apply(invitation=invitation, to_status=Invitation.Status.PENDING, actor=Actor.system("t"), now=None)
    assert (raised.value.type, raised.value.status_code) == ("invalid_transition", 409)
    assert raised.value.as_body()["error"]["status"] == "completed"


@pytest.mark.django_db
def test_the_openapi_error_components_list_the_registered_types_of_each_status(client):
    schemas = client.get("/v1/openapi.json").json()["components"]["schemas"]
    for status, name in [(409, "ConflictError"), (422, "UnprocessableError"), (429, "TooManyRequestsError")]:
        enum = schemas[name]["allOf"][1]["properties"]["error"]["properties"]["type"]["enum"]
        assert enum == [code.type for code in codes_for_status(status)]
    assert (
        "invalid_transition"
        in schemas["ConflictError"]["allOf"][1]["properties"]["error"]["properties"]["type"]["enum"]
    )
    # The extra fields any error may carry are described once, on the envelope's Error.
    assert {"fields", "scope", "retry_after", "remaining_seconds", "status", "max_attempts"} <= set(
        schemas["Error"]["properties"]
    )
