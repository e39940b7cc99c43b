"""Limits every API and inbound webhook request meets before anything reads it."""

from django.conf import settings

from api.errors import (
    ApiError,
    HeadersTooLarge,
    InvalidRequest,
    PayloadTooLarge,
    UriTooLong,
    json_error,
)

# Well under what any HTTP server in front of us accepts (gunicorn: 4094-byte request line, 8190-byte
# header fields), so whatever reaches the application is answered with the envelope.
MAX_URL_LENGTH = 4000
MAX_HEADER_BYTES = 8000


def _limits_error(request) -> ApiError | None:
    if len(request.path) + len(request.META.get("QUERY_STRING", "")) > MAX_URL_LENGTH:
        return UriTooLong(f"The URL is longer than {MAX_URL_LENGTH} characters.")
    if any(
        key.startswith("HTTP_") and isinstance(value, str) and len(value) > MAX_HEADER_BYTES
        for key, value in request.META.items()
    ):
        return HeadersTooLarge(f"A request header is longer than {MAX_HEADER_BYTES} bytes.")
    raw_length = request.META.get("CONTENT_LENGTH") or "0"
    try:
        length = int(raw_length)
    except ValueError:
        return InvalidRequest("The Content-Length header is not a number.")
    if length > settings.API_MAX_BODY_BYTES:
        return PayloadTooLarge(f"The request body is larger than {settings.API_MAX_BODY_BYTES} bytes.")
    return None


def _chunked_body_error(request) -> ApiError | None:
    """A body sent in chunks (no Content-Length) is read like any other: under ASGI Django holds it
    whole, so its length is made known here (DRF reads a body only up to Content-Length), within
    the same limit."""
    chunked = "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
    if request.META.get("CONTENT_LENGTH") or not chunked:
        return None
    length = len(request.body)
    if length > settings.API_MAX_BODY_BYTES:
        return PayloadTooLarge(f"The request body is larger than {settings.API_MAX_BODY_BYTES} bytes.")
    request.META["CONTENT_LENGTH"] = str(length)
    return None


class ApiRequestLimitsMiddleware:
    """Refuse an API or webhook request whose URL, a header or the body is too large, before
    anything reads it, with the envelope."""

    PREFIXES = ("/v1/", "/webhooks/")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith(self.PREFIXES):
            error = _limits_error(request) or _chunked_body_error(request)
            if error is not None:
                return json_error(error)
        return self.get_response(request)
