"""The OpenAPI description's shared parts: the error envelope and the error responses.

Views declare the errors their own rules can raise with ``error_responses(...)``. The
postprocessing hook adds the envelope components and the errors any API request can meet
(401, 413, 414, 431, 429 with Retry-After, 500, 503), so a new endpoint is documented for them without
repeating itself.
"""

from drf_spectacular.utils import OpenApiResponse

from invitations_project.error_codes import EXTRA_FIELDS, codes_for_status

ENVELOPE_REF = "#/components/schemas/ErrorEnvelope"

ERROR_COMPONENTS = {
    "Error": {
        "type": "object",
        "description": "What went wrong. Rules that refuse add their own fields next to type and message.",
        "required": ["type", "message"],
        "properties": {
            "type": {"type": "string", "description": "Stable machine-readable code, such as cooldown_active."},
            "message": {"type": "string", "description": "A human sentence; may change, do not parse it."},
            **EXTRA_FIELDS,
        },
        "additionalProperties": True,
    },
    "ErrorEnvelope": {
        "type": "object",
        "description": "Every error, whatever raised it, has this envelope.",
        "required": ["error"],
        "properties": {"error": {"$ref": "#/components/schemas/Error"}},
        "additionalProperties": False,
    },
}

# The statuses operations document: each one's component name and what it means for the caller. The
# error types each can carry come from the registry (invitations_project/error_codes.py).
DOCUMENTED_STATUSES: dict[int, tuple[str, str]] = {
    400: (
        "InvalidRequestError",
        "The request is malformed: unparseable JSON, a body that is not an object, wrong types, a query "
        "parameter given more than once.",
    ),
    401: ("AuthenticationFailedError", "Missing or invalid credentials."),
    403: ("PermissionDeniedError", "The caller's role does not allow this action."),
    404: ("NotFoundError", "No such invitation for this caller: unknown, another organization's, or the other mode's."),
    409: ("InvalidStatusError", "The invitation's status does not allow this; `status` says which it is."),
    413: ("PayloadTooLargeError", "The request body is larger than the service accepts."),
    414: ("UriTooLongError", "The URL is longer than 4000 characters."),
    415: ("UnsupportedMediaTypeError", "The body is not application/json."),
    422: ("UnprocessableError", "Well-formed, but a value or a rule refuses it."),
    429: (
        "TooManyRequestsError",
        "Too many requests, or the invitation is cooling down. The Retry-After header says how many whole "
        "seconds to wait.",
    ),
    431: ("RequestHeaderTooLargeError", "A request header is longer than 8000 bytes."),
    500: ("ServerError", "An internal error; it has been logged. No stack trace is shown."),
    503: (
        "ServiceUnavailableError",
        "A service this request depends on is unavailable; nothing was left half-done. Retry later.",
    ),
}
# status: (component name, description, the error types that status can carry)
ERRORS: dict[int, tuple[str, str, tuple[str, ...]]] = {
    status: (name, description, tuple(code.type for code in codes_for_status(status)))
    for status, (name, description) in DOCUMENTED_STATUSES.items()
}

for _name, _description, _types in ERRORS.values():
    # The envelope, with `type` narrowed to the codes this status can carry.
    ERROR_COMPONENTS[_name] = {
        "allOf": [
            {"$ref": ENVELOPE_REF},
            {
                "type": "object",
                "properties": {
                    "error": {"type": "object", "properties": {"type": {"type": "string", "enum": list(_types)}}}
                },
            },
        ],
        "example": {"error": {"type": _types[0], "message": _description}},
    }

RETRY_AFTER_HEADER = {
    "description": "Whole seconds to wait before retrying (rounded up).",
    "required": True,
    "schema": {"type": "integer", "minimum": 1},
}


def _error_ref(status: int) -> dict:
    return {"$ref": f"#/components/schemas/{ERRORS[status][0]}"}


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """For ``extend_schema(responses=...)``: the errors an operation's own rules can raise."""
    return {status: OpenApiResponse(response=_error_ref(status), description=ERRORS[status][1]) for status in statuses}


def _error_response(status: int) -> dict:
    return {"description": ERRORS[status][1], "content": {"application/json": {"schema": _error_ref(status)}}}


# PostgreSQL text cannot hold NUL, and DRF's string fields refuse it (422): say so where input is read.
NO_NUL_PATTERN = "^[^\\x00]*$"


def _forbid_nul(schema: dict) -> None:
    if schema.get("type") == "string" and not {"enum", "pattern", "format"} & set(schema):
        schema["pattern"] = NO_NUL_PATTERN


def _request_body_components(result) -> set[str]:
    names = set()
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            for media in operation.get("requestBody", {}).get("content", {}).values():
                ref = media.get("schema", {}).get("$ref", "")
                if ref.startswith("#/components/schemas/"):
                    names.add(ref.rsplit("/", 1)[1])
    return names


def _document_common_errors(operation: dict) -> None:
    for parameter in operation.get("parameters", []):
        _forbid_nul(parameter.get("schema", {}))
        # DRF serializers read an empty optional query value as if it were left out.
        if parameter["in"] == "query" and not parameter.get("required"):
            parameter["allowEmptyValue"] = True
    responses = operation.setdefault("responses", {})
    common = [413, 414, 431, 500, 503]
    # An operation that accepts credentials can refuse them, and is rate limited.
    if any(requirement for requirement in operation.get("security", [])):
        common += [401, 429]
    for status in common:
        responses.setdefault(str(status), _error_response(status))
    if "429" in responses:
        responses["429"].setdefault("headers", {})["Retry-After"] = RETRY_AFTER_HEADER


def postprocess_error_responses(result, generator, request, public):
    """drf-spectacular hook: envelope components, the errors every API operation can meet, empty filters."""
    components = result.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.update(ERROR_COMPONENTS)
    for name in _request_body_components(result):
        for field in schemas.get(name, {}).get("properties", {}).values():
            _forbid_nul(field)
    for path, operations in result.get("paths", {}).items():
        if path.startswith("/v1/"):
            for operation in operations.values():
                _document_common_errors(operation)
    return result
