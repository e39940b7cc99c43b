"""Public endpoints outside /v1 (provider webhooks, dossier events): no API key, authenticated by
a signature, throttled per IP, and every error in the same envelope as the API."""

import logging
from collections.abc import Callable
from functools import wraps

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from api.errors import (
    AuthenticationFailed,
    InvalidRequest,
    MethodNotAllowed,
    PayloadTooLarge,
    error_for_exception,
    json_error,
    server_error_body,
)
from api.parsers import MalformedJson, loads_strict
from api.throttling import PROVIDER_WEBHOOK_PER_IP

logger = logging.getLogger(__name__)


class InvalidSignature(AuthenticationFailed):
    default_message = "The request signature is missing or invalid."


def json_body(request: HttpRequest):
    """The request's JSON body, or InvalidRequest for anything ``loads_strict`` refuses."""
    try:
        return loads_strict(request.body)
    except MalformedJson as exc:
        raise InvalidRequest(str(exc)) from exc


def form_value(request: HttpRequest, name: str, *, max_length: int = 255) -> str:
    """One form field as text: at most ``max_length`` characters, no NUL (PostgreSQL cannot store it)."""
    value = request.POST.get(name, "")
    if "\x00" in value or len(value) > max_length:
        raise InvalidRequest(
            "The event has the wrong shape.", fields={name: [f"At most {max_length} characters, without NUL."]}
        )
    return value


def enveloped(*methods: str) -> Callable:
    """Exempt a public view from CSRF, allow only `methods`, throttle it per IP, and render any error
    as the envelope."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @csrf_exempt
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.method not in methods:
                response = json_error(MethodNotAllowed(f"{request.method} is not allowed here."))
                response["Allow"] = ", ".join(methods)
                return response
            try:
                PROVIDER_WEBHOOK_PER_IP.hit(request)
                return view(request, *args, **kwargs)
            except RequestDataTooBig:
                return json_error(PayloadTooLarge("The request body is too large."))
            except Exception as exc:
                error = error_for_exception(exc)
                if error is None:
                    logger.exception("Unhandled error in %s", request.path)
                    return JsonResponse(server_error_body(), status=500)
                return json_error(error)

        return wrapper

    return decorator
