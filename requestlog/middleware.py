"""Every answer carries Request-Id; every error envelope names it; every authenticated /v1/ request
is logged for its organization."""

import json
import time

from django.utils import timezone

from accounts.principals import Principal
from api.throttling import client_ip
from api.tokens import normalize_token
from ops.context import current_request_id, log_context, new_request_id
from ops.text import storable
from requestlog.store import request_log_record

API_PREFIX = "/v1/"
USER_AGENT_MAX = 400


def _stamp_envelope(response, request_id: str) -> str:
    """Add ``requestId`` to an error envelope; return its ``type`` ("" when the body is not one)."""
    if response.streaming or not response.get("Content-Type", "").startswith("application/json"):
        return ""
    try:
        body = json.loads(response.content)
    except ValueError:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return ""
    error["requestId"] = request_id
    response.content = json.dumps(body)
    if response.has_header("Content-Length"):
        response["Content-Length"] = str(len(response.content))
    return str(error.get("type", ""))


def _invitation_token(request, response) -> str:
    """The invitation a request named: its path's token, or the one a create answered with."""
    match = request.resolver_match
    token = match.kwargs.get("token") if match is not None else None
    if token is None:
        data = getattr(response, "data", None)
        token = data.get("token") if isinstance(data, dict) and response.status_code == 201 else None
    if not isinstance(token, str) or not token:
        return ""
    return normalize_token(token) or ""


def _credential(principal: Principal) -> tuple[str, str]:
    if principal.api_key is not None:
        return "api_key", principal.api_key.prefix
    return "jwt", principal.user.email if principal.user is not None else ""


class RequestIdMiddleware:
    """Outermost: names the request, stamps the answer, logs authenticated API requests."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = new_request_id()
        request.request_id = request_id
        token = current_request_id.set(request_id)
        started_at, started = timezone.now(), time.perf_counter()
        try:
            with log_context() as context:
                # Kept on the request for django.request, which logs an error answer after this returns.
                request.log_context = context
                response = self.get_response(request)
            response["Request-Id"] = request_id
            error_type = _stamp_envelope(response, request_id) if response.status_code >= 400 else ""
            if request.path.startswith(API_PREFIX):
                self._log(request, response, error_type, started_at, started)
        finally:
            current_request_id.reset(token)
        return response

    @staticmethod
    def _log(request, response, error_type: str, started_at, started: float) -> None:
        # DRF puts the authenticated caller on the Django request; `type` does not evaluate the lazy
        # session user Django's middleware leaves there otherwise.
        principal = request.__dict__.get("user")
        if type(principal) is not Principal:
            return
        kind, label = _credential(principal)
        request_log_record(
            entry=storable_entry(
                {
                    "public_id": request.request_id,
                    "organization_id": principal.organization.pk,
                    "livemode": principal.livemode,
                    "created_at": started_at,
                    "method": request.method[:8],
                    "path": request.path,
                    "status": response.status_code,
                    "error_type": error_type,
                    "duration_ms": round((time.perf_counter() - started) * 1000),
                    "user_agent": request.META.get("HTTP_USER_AGENT", "")[:USER_AGENT_MAX],
                    "ip": client_ip(request)[:64],
                    "credential_kind": kind,
                    "credential_label": label[:254],
                    "idempotency_key": request.headers.get("Idempotency-Key", "")[:255],
                    "invitation_token": _invitation_token(request, response)[:40],
                }
            )
        )


def storable_entry(entry: dict) -> dict:
    """The entry's text as PostgreSQL takes it: whatever a request's path or headers held (a NUL, a
    lone surrogate) can never stop the log from being stored."""
    return {name: storable(value) if isinstance(value, str) else value for name, value in entry.items()}
