"""One error envelope for every failure: {"error": {"type", "message", ...extra}}.

Business rules raise subclasses of ``ApiError`` carrying their contract ``type``, HTTP status
and extra fields; ``api_exception_handler`` turns those, DRF's own exceptions and anything
unexpected into the envelope. The admin and the management commands show the same messages.
"""

import logging
import math

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from redis.exceptions import RedisError
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response

logger = logging.getLogger(__name__)


class ApiError(Exception):
    status_code = 400
    type = "invalid_request"
    default_message = "The request is invalid."

    def __init__(self, message: str | None = None, **extra):
        self.message = message or self.default_message
        self.extra = extra
        super().__init__(self.message)

    def headers(self) -> dict[str, str]:
        return {}

    def as_body(self) -> dict:
        return {"error": {"type": self.type, "message": self.message, **self.extra}}


class InvalidRequest(ApiError):
    status_code = 400
    type = "invalid_request"
    default_message = "The request is malformed."


class ValidationFailed(ApiError):
    status_code = 422
    type = "validation_error"
    default_message = "Some fields have invalid values."


class AuthenticationFailed(ApiError):
    status_code = 401
    type = "authentication_failed"
    default_message = "Missing or invalid credentials."


class PermissionDenied(ApiError):
    status_code = 403
    type = "permission_denied"
    default_message = "Your role does not allow this action."


class NotFound(ApiError):
    status_code = 404
    type = "not_found"
    default_message = "No such resource."


class Conflict(ApiError):
    status_code = 409
    type = "conflict"


class TooManyRequests(ApiError):
    """A 429; ``retry_after_seconds`` becomes the Retry-After header, rounded up."""

    status_code = 429
    type = "rate_limited"
    retry_after_seconds: float = 1

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(max(1, math.ceil(self.retry_after_seconds)))}


class RateLimited(TooManyRequests):
    type = "rate_limited"

    def __init__(self, *, scope: str, retry_after: int, message: str | None = None):
        self.retry_after_seconds = retry_after
        super().__init__(
            message or f"Too many requests for this {scope}; retry after {retry_after} seconds.",
            scope=scope,
            retry_after=retry_after,
        )


class ServiceUnavailable(ApiError):
    status_code = 503
    type = "service_unavailable"
    default_message = "A service this request depends on is unavailable; nothing was left half-done. Retry later."


_DRF_TYPES = {
    drf_exceptions.NotAuthenticated: (401, "authentication_failed"),
    drf_exceptions.AuthenticationFailed: (401, "authentication_failed"),
    drf_exceptions.PermissionDenied: (403, "permission_denied"),
    drf_exceptions.NotFound: (404, "not_found"),
    drf_exceptions.MethodNotAllowed: (405, "method_not_allowed"),
    drf_exceptions.NotAcceptable: (406, "not_acceptable"),
    drf_exceptions.UnsupportedMediaType: (415, "unsupported_media_type"),
    drf_exceptions.ParseError: (400, "invalid_request"),
}

# Serializer error codes that mean "wrong shape or type" (400) rather than "bad value" (422).
TYPE_ERROR_CODES = frozenset({"wrong_type", "null", "unknown_field", "not_a_dict", "not_a_list", "parse_error"})


def _flatten_codes(detail) -> set[str]:
    codes: set[str] = set()
    if isinstance(detail, dict):
        for value in detail.values():
            codes |= _flatten_codes(value)
    elif isinstance(detail, list):
        for value in detail:
            codes |= _flatten_codes(value)
    elif hasattr(detail, "code"):
        codes.add(detail.code)
    return codes


def _field_messages(detail) -> dict | list | str:
    if isinstance(detail, dict):
        return {key: _field_messages(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_field_messages(value) for value in detail]
    return str(detail)


def error_for_exception(exc: Exception) -> ApiError | None:
    """Translate any exception into an ApiError; None when it is unexpected (a 500)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, drf_exceptions.ValidationError):
        fields = _field_messages(exc.detail)
        if not isinstance(fields, dict):
            fields = {"non_field_errors": fields}
        # A field with the wrong JSON type, or a body that is not an object, is malformed (400);
        # well-formed values that break a rule are a 422.
        if _flatten_codes(exc.detail) & TYPE_ERROR_CODES:
            return InvalidRequest("The request body has the wrong shape or types.", fields=fields)
        return ValidationFailed(fields=fields)
    if isinstance(exc, drf_exceptions.Throttled):
        retry_after = math.ceil(exc.wait or 1)
        return RateLimited(scope="ip", retry_after=retry_after)
    if isinstance(exc, Http404):
        return NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        return PermissionDenied()
    for drf_class, (status, type_) in _DRF_TYPES.items():
        if isinstance(exc, drf_class):
            error = ApiError(str(exc.detail))
            error.status_code = status
            error.type = type_
            return error
    if isinstance(exc, drf_exceptions.APIException):
        error = ApiError(str(exc.detail))
        error.status_code = exc.status_code
        error.type = exc.default_code
        return error
    if isinstance(exc, (OperationalError, InterfaceError, RedisError)):
        logger.error("Dependency unavailable: %s", exc)
        return ServiceUnavailable()
    return None


def server_error_body() -> dict:
    return {"error": {"type": "server_error", "message": "An internal error occurred. It has been logged."}}


def api_exception_handler(exc: Exception, context) -> Response:
    error = error_for_exception(exc)
    if error is None:
        if isinstance(exc, DatabaseError):
            logger.exception("Database error in API view")
        else:
            logger.exception("Unhandled error in API view")
        return Response(server_error_body(), status=500)
    response = Response(error.as_body(), status=error.status_code, headers=error.headers())
    if error.status_code == 401:
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


def json_error(error: ApiError) -> JsonResponse:
    response = JsonResponse(error.as_body(), status=error.status_code)
    for key, value in error.headers().items():
        response[key] = value
    return response
