"""Dossier events from the verification flow: signed with a shared secret, applied once."""

import hashlib
import hmac
from datetime import UTC

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.principals import Actor
from api.errors import InvalidRequest, ServiceUnavailable
from api.inbound import InvalidSignature, enveloped, json_body
from invitations.services import invitation_dossier_event_record

SIGNATURE_HEADER = "X-Dossier-Signature"
DOSSIER_ACTOR = Actor.system("dossier")


def dossier_signature(body: bytes, secret: str) -> str:
    """The header value a sender puts on `body`: sha256=<hex HMAC-SHA256 of the raw body>."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _verify_signature(request: HttpRequest) -> None:
    secret = settings.DOSSIER_WEBHOOK_SECRET
    if not secret:
        # Unsigned events are never accepted; the sender retries once the secret is configured.
        raise ServiceUnavailable("Dossier events are not configured on this server.")
    given = request.headers.get(SIGNATURE_HEADER, "")
    if not given or not hmac.compare_digest(given.strip(), dossier_signature(request.body, secret)):
        raise InvalidSignature(f"The {SIGNATURE_HEADER} header is missing or does not match the body.")


def _string(container: dict, key: str, *, where: str, max_length: int, required: bool = True) -> str:
    value = container.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value or len(value) > max_length:
        raise InvalidRequest(
            "The event has the wrong shape.",
            fields={where + key: [f"Must be a non-empty string of at most {max_length} characters."]},
        )
    return value


@enveloped("POST")
def dossier_event_webhook(request: HttpRequest) -> JsonResponse:
    _verify_signature(request)
    payload = json_body(request)
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
        raise InvalidRequest("The event has the wrong shape.", fields={"data": ["Must be an object."]})
    data = payload["data"]
    event_id = _string(payload, "id", where="", max_length=100)
    event_type = _string(payload, "type", where="", max_length=40)
    try:
        created = parse_datetime(_string(payload, "createdAt", where="", max_length=40))
        if created is not None and created.tzinfo is None:
            created = created.replace(tzinfo=UTC)
        # The signature covers createdAt, so an old event cannot be replayed with a fresh time.
        skew = abs((timezone.now() - created).total_seconds()) if created is not None else None
    except (ValueError, OverflowError):  # a date that does not exist, an offset past a day
        created = skew = None
    if created is None or skew is None:
        raise InvalidRequest("The event has the wrong shape.", fields={"createdAt": ["Must be an ISO 8601 datetime."]})
    if skew > settings.DOSSIER_WEBHOOK_TOLERANCE_SECONDS:
        raise InvalidSignature(
            f"The event was created {int(skew)} seconds away from now, outside the "
            f"{settings.DOSSIER_WEBHOOK_TOLERANCE_SECONDS}-second replay window."
        )
    event = invitation_dossier_event_record(
        event_id=event_id,
        event_type=event_type,
        invitation_token=_string(data, "invitationToken", where="data.", max_length=64),
        dossier_token=_string(data, "dossierToken", where="data.", max_length=64, required=False),
        occurred_at=created,
        actor=DOSSIER_ACTOR,
    )
    return JsonResponse({"received": True, "duplicate": event.duplicate, "outcome": event.outcome})
