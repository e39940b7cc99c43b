"""The OpenAPI description's shared parts: the error envelope and the error responses.

Views declare the errors their own rules can raise with ``error_responses(...)``. The
postprocessing hook adds the envelope components and the errors any API request can meet
(401, 413, 414, 431, 429 with Retry-After, 500, 503), so a new endpoint is documented for them without
repeating itself.
"""

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.plumbing import force_instance
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

from api.error_codes import EXTRA_FIELDS, codes_for_status

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
# error types each can carry come from the registry (api/error_codes.py).
DOCUMENTED_STATUSES: dict[int, tuple[str, str]] = {
    400: (
        "InvalidRequestError",
        "The request is malformed: unparseable JSON, a body that is not an object, wrong types, a query "
        "parameter given more than once.",
    ),
    401: ("AuthenticationFailedError", "Missing or invalid credentials."),
    403: ("PermissionDeniedError", "The caller's role does not allow this action."),
    404: ("NotFoundError", "No such invitation for this caller: unknown, another organization's, or the other mode's."),
    409: (
        "ConflictError",
        "The invitation's status does not allow this (`status` says which it is), or a request with the same "
        "Idempotency-Key is still running.",
    ),
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

REQUEST_ID_HEADER = {
    "description": "This answer's id (req_…); an error envelope repeats it as requestId. Quote it to support.",
    "required": True,
    "schema": {"type": "string", "pattern": "^req_[A-Za-z0-9]{24}$"},
}
REPLAYED_HEADER = {
    "description": "true when this is the stored answer of an earlier request with the same Idempotency-Key.",
    "schema": {"type": "string", "enum": ["true"]},
}
RATE_LIMIT_HEADERS = {
    "RateLimit-Limit": {"description": "The limit of the bucket closest to it.", "schema": {"type": "integer"}},
    "RateLimit-Remaining": {"description": "Requests left in that bucket's window.", "schema": {"type": "integer"}},
    "RateLimit-Reset": {"description": "Whole seconds until that window ends.", "schema": {"type": "integer"}},
    "RateLimit-Policy": {
        "description": 'Every bucket of this endpoint, e.g. 30;w=60;name="ip", 20;w=60;name="organization".',
        "schema": {"type": "string"},
    },
}
IDEMPOTENCY_KEY_PARAMETER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Makes this POST safe to retry: the first 2xx answer is kept 24 hours and returned again for the "
    "same key (Idempotent-Replayed: true) without doing anything twice. The same key with another method, path or "
    "body is a 422 idempotency_key_reused; while the first request runs, a 409 idempotency_key_in_use.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x20-\\x7e]+$"},
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


def _throttled_operations(generator) -> set[tuple[str, str]]:
    """(path, method) of every operation with rate-limit buckets (RateLimitedApiMixin.rate_limits)."""
    found = set()
    for path, _pattern, method, callback in getattr(generator, "endpoints", None) or []:
        view = getattr(callback, "cls", None)
        if getattr(view, "rate_limits", {}).get(method.upper()):
            found.add((path, method.lower()))
    return found


def _document_headers(operation: dict, *, method: str, throttled: bool) -> None:
    """Request-Id on every answer; on a POST the Idempotency-Key and its replay header; on a throttled
    operation its RateLimit headers."""
    authenticated = any(requirement for requirement in operation.get("security", []))
    if method == "post" and authenticated:
        parameters = operation.setdefault("parameters", [])
        parameters[:] = [p for p in parameters if p.get("name") != "Idempotency-Key"]
        parameters.append(IDEMPOTENCY_KEY_PARAMETER)
        # A key in use (409), reused or malformed (422).
        for status in (409, 422):
            operation["responses"].setdefault(str(status), _error_response(status))
    for status, response in operation.get("responses", {}).items():
        headers = response.setdefault("headers", {})
        headers["Request-Id"] = REQUEST_ID_HEADER
        if throttled:
            headers.update(RATE_LIMIT_HEADERS)
        if method == "post" and authenticated and status.startswith("2"):
            headers["Idempotent-Replayed"] = REPLAYED_HEADER


def postprocess_error_responses(result, generator, request, public):
    """drf-spectacular hook: envelope components, the errors every API operation can meet, empty filters,
    the headers every answer carries."""
    components = result.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.update(ERROR_COMPONENTS)
    for name in _request_body_components(result):
        for field in schemas.get(name, {}).get("properties", {}).values():
            _forbid_nul(field)
    throttled = _throttled_operations(generator)
    for path, operations in result.get("paths", {}).items():
        if path.startswith("/v1/"):
            for method, operation in operations.items():
                _document_common_errors(operation)
                _document_headers(operation, method=method, throttled=(path, method) in throttled)
    return result


def strict_object_schema(serializer, schema: dict) -> dict:
    """A body read by ``StrictObjectSerializer`` as the server checks it: no field but the declared
    ones, and no empty string where a field refuses one."""
    schema["additionalProperties"] = False
    properties = schema.get("properties", {})
    for name, field in force_instance(serializer).fields.items():
        described = properties.get(name)
        if (
            described is not None
            and described.get("type") == "string"
            and "enum" not in described
            and isinstance(field, serializers.CharField)
            and not field.allow_blank
        ):
            described.setdefault("minLength", 1)
    return schema


class StrictObjectScheme(OpenApiSerializerExtension):
    target_class = "api.fields.StrictObjectSerializer"
    match_subclasses = True
    priority = -1  # a serializer's own extension (which calls strict_object_schema) comes first

    def map_serializer(self, auto_schema, direction):
        return strict_object_schema(
            self.target, auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        )
