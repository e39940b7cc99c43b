"""Every error the service can answer, in one registry: its contract ``type``, HTTP status, the extra
fields it carries, and what it means. The exception classes (``errors.ApiError`` and the rules'
subclasses) take their type and status from here, and the OpenAPI description lists, for each
status, the types registered for it: a new code appears in both by being registered once."""

from dataclasses import dataclass


@dataclass(frozen=True)
class ErrorCode:
    type: str
    status: int
    description: str
    extra: tuple[str, ...] = ()


CODES: dict[str, ErrorCode] = {}


def register(type_: str, status: int, description: str, *extra: str) -> ErrorCode:
    if type_ in CODES:
        raise ValueError(f"error type {type_!r} is registered twice")
    code = CODES[type_] = ErrorCode(type=type_, status=status, description=description, extra=extra)
    return code


def codes_for_status(status: int) -> list[ErrorCode]:
    return [code for code in CODES.values() if code.status == status]


# The extra fields an error may carry next to type and message, as the OpenAPI Error schema shows them.
EXTRA_FIELDS: dict[str, dict] = {
    "fields": {
        "type": "object",
        "additionalProperties": True,
        "description": "invalid_request, validation_error: messages by field name.",
    },
    "scope": {
        "type": "string",
        "enum": ["ip", "organization", "account"],
        "description": "rate_limited: which bucket is full (account: logins for one email).",
    },
    "retry_after": {"type": "integer", "minimum": 1, "description": "rate_limited: seconds to wait."},
    "remaining_seconds": {
        "type": "integer",
        "minimum": 1,
        "description": "cooldown_active: seconds until the invitation may be resent.",
    },
    "status": {"type": "string", "description": "invalid_status, invalid_transition: the invitation's status."},
    "max_attempts": {"type": "integer", "description": "max_attempts_reached: the cap on send attempts."},
    "reason": {
        "type": "string",
        "enum": ["hard_bounce", "complaint", "unsubscribed", "invalid_number", "manual"],
        "description": "recipient_suppressed: why the recipient is suppressed.",
    },
    "suppressedAt": {
        "type": "string",
        "format": "date-time",
        "description": "recipient_suppressed: since when.",
    },
    "requestId": {"type": "string", "description": "The request's id, as its Request-Id header says (req_...)."},
}

INVALID_REQUEST = register(
    "invalid_request",
    400,
    "Malformed: unparseable JSON, a body that is not an object, wrong types, a parameter given twice.",
    "fields",
)
AUTHENTICATION_FAILED = register("authentication_failed", 401, "Missing or invalid credentials.")
PERMISSION_DENIED = register("permission_denied", 403, "The caller's role does not allow this action.")
NOT_FOUND = register("not_found", 404, "No such resource for this caller.")
METHOD_NOT_ALLOWED = register("method_not_allowed", 405, "The method is not allowed on this path.")
NOT_ACCEPTABLE = register("not_acceptable", 406, "No answer in the media type the Accept header asks for.")
INVALID_STATUS = register("invalid_status", 409, "The invitation's status does not allow this.", "status")
INVALID_TRANSITION = register(
    "invalid_transition", 409, "The lifecycle has no such move from the invitation's status.", "status"
)
INVITATION_LINK_EXPIRED = register("invitation_link_expired", 410, "The recipient's link has expired.")
PAYLOAD_TOO_LARGE = register("payload_too_large", 413, "The request body is larger than the service accepts.")
URI_TOO_LONG = register("uri_too_long", 414, "The URL is longer than the service accepts.")
UNSUPPORTED_MEDIA_TYPE = register("unsupported_media_type", 415, "The body is not application/json.")
VALIDATION_ERROR = register("validation_error", 422, "Well-formed, but a value is invalid.", "fields")
INVITATION_EXPIRED = register("invitation_expired", 422, "The invitation's expiresAt has passed.")
MAX_ATTEMPTS_REACHED = register(
    "max_attempts_reached", 422, "The invitation has had the maximum number of sends.", "max_attempts"
)
RECIPIENT_SUPPRESSED = register(
    "recipient_suppressed",
    422,
    "The recipient is on the suppression list: a provider said it cannot or must not be reached, or someone "
    "added it. Nothing was queued.",
    "reason",
    "suppressedAt",
)
IDEMPOTENCY_KEY_IN_USE = register(
    "idempotency_key_in_use", 409, "A request with this Idempotency-Key is still running; retry when it has finished."
)
IDEMPOTENCY_KEY_REUSED = register(
    "idempotency_key_reused", 422, "This Idempotency-Key was used for a request with another method, path or body."
)
RATE_LIMITED = register("rate_limited", 429, "Too many requests in one bucket.", "scope", "retry_after")
COOLDOWN_ACTIVE = register(
    "cooldown_active", 429, "The invitation was sent too recently to be sent again.", "remaining_seconds"
)
REQUEST_HEADER_TOO_LARGE = register("request_header_too_large", 431, "A request header is too large.")
SERVER_ERROR = register("server_error", 500, "An internal error; it has been logged.")
SERVICE_UNAVAILABLE = register(
    "service_unavailable", 503, "A service this request depends on is unavailable; nothing was left half-done."
)
