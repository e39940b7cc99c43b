"""One error envelope for every failure: {"error": {"type", "message", ...extra}}.

Business rules raise subclasses of ``ApiError`` carrying their code (the contract ``type`` and HTTP
status, from the registry in ``error_codes``) and extra fields; ``api_exception_handler`` turns
those, DRF's own exceptions and anything unexpected into the envelope. The admin and the
management commands show the same messages.
"""

import logging
import math

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from redis.exceptions import RedisError
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response

from api import error_codes as codes
from api.error_codes import ErrorCode

logger = logging.getLogger(__name__)


class ApiError(Exception):
    """A refusal in the envelope. Subclasses name their ``code`` (type and status, from the registry)."""

    code: ErrorCode = codes.INVALID_REQUEST
    default_message = "The request is invalid."

    def __init__(self, message: str | None = None, *, code: ErrorCode | None = None, **extra):
        if code is not None:
            self.code = code
        self.message = message or self.default_message
        self.extra = extra
        super().__init__(self.message)

    @property
    def status_code(self) -> int:
        return self.code.status

    @property
    def type(self) -> str:
        return self.code.type

    def headers(self) -> dict[str, str]:
        return {}

    def as_body(self) -> dict:
        return {"error": {"type": self.type, "message": self.message, **self.extra}}


class InvalidRequest(ApiError):
    code = codes.INVALID_REQUEST
    default_message = "The request is malformed."


class ValidationFailed(ApiError):
    code = codes.VALIDATION_ERROR
    default_message = "Some fields have invalid values."


class AuthenticationFailed(ApiError):
    code = codes.AUTHENTICATION_FAILED
    default_message = "Missing or invalid credentials."


class PermissionDenied(ApiError):
    code = codes.PERMISSION_DENIED
    default_message = "Your role does not allow this action."


class NotFound(ApiError):
    code = codes.NOT_FOUND
    default_message = "No such resource."


class MethodNotAllowed(ApiError):
    code = codes.METHOD_NOT_ALLOWED


class PayloadTooLarge(ApiError):
    code = codes.PAYLOAD_TOO_LARGE


class UriTooLong(ApiError):
    code = codes.URI_TOO_LONG


class HeadersTooLarge(ApiError):
    code = codes.REQUEST_HEADER_TOO_LARGE


class TooManyRequests(ApiError):
    """A 429; ``retry_after_seconds`` becomes the Retry-After header, rounded up."""

    code = codes.RATE_LIMITED
    retry_after_seconds: float = 1

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(max(1, math.ceil(self.retry_after_seconds)))}


class RateLimited(TooManyRequests):
    code = codes.RATE_LIMITED

    def __init__(self, *, scope: str, retry_after: int, message: str | None = None):
        self.retry_after_seconds = retry_after
        super().__init__(
            message or f"Too many requests for this {scope}; retry after {retry_after} seconds.",
            scope=scope,
            retry_after=retry_after,
        )


class ServiceUnavailable(ApiError):
    code = codes.SERVICE_UNAVAILABLE
    default_message = "A service this request depends on is unavailable; nothing was left half-done. Retry later."


_DRF_CODES = {
    drf_exceptions.NotAuthenticated: codes.AUTHENTICATION_FAILED,
    drf_exceptions.AuthenticationFailed: codes.AUTHENTICATION_FAILED,
    drf_exceptions.PermissionDenied: codes.PERMISSION_DENIED,
    drf_exceptions.NotFound: codes.NOT_FOUND,
    drf_exceptions.MethodNotAllowed: codes.METHOD_NOT_ALLOWED,
    drf_exceptions.NotAcceptable: codes.NOT_ACCEPTABLE,
    drf_exceptions.UnsupportedMediaType: codes.UNSUPPORTED_MEDIA_TYPE,
    drf_exceptions.ParseError: codes.INVALID_REQUEST,
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


def _validation_error(exc: drf_exceptions.ValidationError) -> ApiError:
    fields = _field_messages(exc.detail)
    if not isinstance(fields, dict):
        fields = {"non_field_errors": fields}
    # A field with the wrong JSON type, or a body that is not an object, is malformed (400);
    # well-formed values that break a rule are a 422.
    if _flatten_codes(exc.detail) & TYPE_ERROR_CODES:
        return InvalidRequest("The request body has the wrong shape or types.", fields=fields)
    return ValidationFailed(fields=fields)


def _drf_error(exc: drf_exceptions.APIException) -> ApiError:
    if isinstance(exc, drf_exceptions.ValidationError):
        return _validation_error(exc)
    if isinstance(exc, drf_exceptions.Throttled):
        return RateLimited(scope="ip", retry_after=math.ceil(getattr(exc, "wait", None) or 1))
    for drf_class, code in _DRF_CODES.items():
        if isinstance(exc, drf_class):
            return ApiError(str(exc.detail), code=code)
    # Any other DRF refusal: the registered code of its status, else a plain invalid request.
    registered = codes.codes_for_status(exc.status_code)
    return ApiError(str(exc.detail), code=registered[0] if registered else codes.INVALID_REQUEST)


def error_for_exception(exc: Exception) -> ApiError | None:
    """Translate any exception into an ApiError; None when it is unexpected (a 500)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, drf_exceptions.APIException):
        return _drf_error(exc)
    if isinstance(exc, Http404):
        return NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        return PermissionDenied()
    if isinstance(exc, (OperationalError, InterfaceError, RedisError)):
        logger.error("Dependency unavailable: %s", exc)
        return ServiceUnavailable()
    return None


def server_error_body() -> dict:
    return {"error": {"type": codes.SERVER_ERROR.type, "message": "An internal error occurred. It has been logged."}}


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
