"""Limits every API and inbound webhook request meets: its size before anything reads it, and how
long it may wait for the database."""

import contextlib
import threading
import time

import psycopg
from django.conf import settings
from django.db import OperationalError, connection

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


class DatabaseDeadlineMiddleware:
    """An API or webhook request waits at most DB_REQUEST_TIMEOUT_SECONDS for the database in all (a
    row lock another transaction holds, a table a migration rewrites): past it, the query in flight
    is cancelled in the server and any later one refused, so the request's transaction rolls back
    and it is answered 503 service_unavailable. Kept in this process, not set on the database
    session, which a pooler in transaction mode shares between clients."""

    PREFIXES = ApiRequestLimitsMiddleware.PREFIXES

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith(self.PREFIXES) or connection.vendor != "postgresql":
            return self.get_response(request)
        seconds = settings.DB_REQUEST_TIMEOUT_SECONDS
        deadline = time.monotonic() + seconds
        in_flight: dict = {}

        def guard(execute, sql, params, many, context):
            if time.monotonic() >= deadline:
                raise OperationalError(f"The request's {seconds} s for the database have passed.")
            in_flight["connection"] = context["connection"].connection
            try:
                return execute(sql, params, many, context)
            finally:
                in_flight.pop("connection", None)

        def cancel() -> None:
            raw = in_flight.get("connection")
            if raw is not None:
                with contextlib.suppress(psycopg.Error):
                    raw.cancel_safe(timeout=2)

        timer = threading.Timer(seconds, cancel)
        timer.daemon = True
        timer.start()
        try:
            with connection.execute_wrapper(guard):
                return self.get_response(request)
        finally:
            timer.cancel()
