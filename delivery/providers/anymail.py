"""Email through anymail: what its normalized tracking events mean for a send, and its tracking
webhooks, mounted for the configured ESP only and authenticated before anymail reads a byte."""

import hashlib

from anymail.exceptions import AnymailConfigurationError, AnymailWebhookValidationFailure
from anymail.signals import tracking
from anymail.utils import get_request_basic_auth
from django.conf import settings
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.utils.crypto import constant_time_compare

from api.errors import InvalidRequest, NotFound
from api.inbound import InvalidSignature, enveloped, json_body
from delivery.models import ProviderEvent
from delivery.services.events import delivery_provider_event_record
from invitations.models import Invitation
from suppressions.models import Suppression

# anymail's normalized event types -> (kind, permanent). Temporary trouble reaches us as
# `deferred`, which the ESP retries itself; bounced and rejected mean this address will not work,
# unless the ESP says the bounce was soft (``_soft_bounce``). A complaint or an unsubscribe comes
# after delivery: the status stays, the address is suppressed.
ANYMAIL_EVENT_KINDS = {
    "queued": (ProviderEvent.Kind.QUEUED, False),
    "sent": (ProviderEvent.Kind.QUEUED, False),
    "deferred": (ProviderEvent.Kind.QUEUED, False),
    "delivered": (ProviderEvent.Kind.DELIVERED, False),
    "opened": (ProviderEvent.Kind.OPENED, False),
    "clicked": (ProviderEvent.Kind.OPENED, False),
    "bounced": (ProviderEvent.Kind.FAILED, True),
    "rejected": (ProviderEvent.Kind.FAILED, True),
    "failed": (ProviderEvent.Kind.FAILED, False),
    "complained": (ProviderEvent.Kind.OTHER, False),
    "unsubscribed": (ProviderEvent.Kind.OTHER, False),
}
# anymail's reject_reason of a `rejected` event -> why the address is suppressed.
REJECTED_SUPPRESSION = {"spam": Suppression.Reason.COMPLAINT, "unsubscribed": Suppression.Reason.UNSUBSCRIBED}
# The ESPs' own words for a bounce that may pass later (mailbox full, greylisting): Postmark's
# Type, Mailgun's severity, SparkPost's and SendGrid's bounce classes.
SOFT_BOUNCE_MARKS = {
    ("Type", "SoftBounce"),
    ("Type", "Transient"),
    ("Type", "InboxFull"),
    ("severity", "temporary"),
    ("type", "blocked"),
}


def _soft_bounce(event) -> bool:
    """Whether the ESP called this bounce soft: its own event says so, or the receiving server
    answered with a 4xx (a temporary refusal)."""
    esp_event = event.esp_event if isinstance(event.esp_event, dict) else {}
    if any(str(esp_event.get(field, "")) == value for field, value in SOFT_BOUNCE_MARKS):
        return True
    reply = str(event.mta_response or "").lstrip()
    return reply[:1] == "4" and reply[:3].isdigit()


def email_event_meaning(event) -> tuple[str, bool, str]:
    """An anymail event as (kind, permanent, suppression reason or "")."""
    kind, permanent = ANYMAIL_EVENT_KINDS.get(event.event_type, (ProviderEvent.Kind.OTHER, False))
    if event.event_type == "bounced" and _soft_bounce(event):
        return ProviderEvent.Kind.FAILED, False, ""
    if event.event_type == "complained":
        return kind, permanent, Suppression.Reason.COMPLAINT
    if event.event_type == "unsubscribed":
        return kind, permanent, Suppression.Reason.UNSUBSCRIBED
    if event.event_type == "rejected":
        return kind, permanent, REJECTED_SUPPRESSION.get(str(event.reject_reason or ""), Suppression.Reason.HARD_BOUNCE)
    if event.event_type == "bounced":
        return kind, permanent, Suppression.Reason.HARD_BOUNCE
    return kind, permanent, ""


def _anymail_event_id(event, esp_name: str) -> str:
    if event.event_id:
        return str(event.event_id)
    # Some ESPs give no id for some events: derive one that a redelivered webhook repeats.
    timestamp = event.timestamp.isoformat() if event.timestamp else ""
    raw = "|".join([esp_name, event.event_type or "", str(event.message_id or ""), timestamp, event.click_url or ""])
    return "derived:" + hashlib.sha256(raw.encode()).hexdigest()


def delivery_email_event_record(*, event, esp_name: str) -> ProviderEvent:
    """Apply one anymail AnymailTrackingEvent (from any ESP's tracking webhook)."""
    for name in ("message_id", "event_id", "event_type"):
        if not isinstance(getattr(event, name), str | int | None):
            raise InvalidRequest("The event has the wrong shape.", fields={name: ["Must be a string."]})
    kind, permanent, suppress_as = email_event_meaning(event)
    detail = event.description or event.mta_response or ""
    reason = f" ({event.reject_reason})" if event.reject_reason else ""
    description = f"Email {event.event_type}{reason}" + (f": {detail}" if detail else "")
    metadata = event.metadata if isinstance(event.metadata, dict) else {}
    return delivery_provider_event_record(
        provider=f"anymail:{esp_name.lower()}"[:40],
        event_id=_anymail_event_id(event, esp_name),
        channel=Invitation.Channel.EMAIL,
        kind=kind,
        provider_status=str(event.event_type or ""),
        message_id=str(event.message_id or "")[:255],
        attempt_hint=str(metadata.get("delivery_attempt_id", "")),
        hint_token=str(metadata.get("invitation_token") or ""),
        permanent=permanent,
        description=description if kind == ProviderEvent.Kind.FAILED or suppress_as else detail,
        occurred_at=event.timestamp,
        suppress_as=suppress_as,
    )


@receiver(tracking, dispatch_uid="delivery.anymail_tracking")
def anymail_tracking_received(sender, event, esp_name, **kwargs) -> None:
    """anymail's tracking signal, sent once per event its webhook view parsed."""
    delivery_email_event_record(event=event, esp_name=esp_name)


# What anymail's parsers raise on a payload of the wrong shape (a list where an object belongs, a
# string where a number does, an impossible date).
MALFORMED_PAYLOAD_ERRORS = (ValueError, KeyError, TypeError, AttributeError, IndexError, OverflowError, RecursionError)


def configured_esps() -> set[str]:
    """The anymail ESPs email is sent through (anymail.backends.<esp>.EmailBackend): EMAIL_BACKEND's,
    or every one EMAIL_BACKENDS lists for failover."""
    esps = set()
    for path in settings.EMAIL_BACKENDS or [settings.EMAIL_BACKEND]:
        parts = path.split(".")
        if len(parts) == 4 and parts[:2] == ["anymail", "backends"]:
            esps.add(parts[2])
    return esps


def _webhook_secrets() -> list[str]:
    secret: str | list[str] = settings.ANYMAIL.get("WEBHOOK_SECRET") or []
    return [secret] if isinstance(secret, str) else [value for value in secret if value]


def _verify_basic_auth(request: HttpRequest) -> None:
    """Every tracking webhook must carry ANYMAIL_WEBHOOK_SECRET as its HTTP Basic credential.

    anymail itself only warns when no secret is configured and lets the event through; here no
    secret configured means every event is refused.
    """
    secrets = _webhook_secrets()
    if not secrets:
        raise InvalidSignature("Email tracking webhooks are not configured on this server (ANYMAIL_WEBHOOK_SECRET).")
    given = get_request_basic_auth(request)
    if given is None or not any(constant_time_compare(given, secret) for secret in secrets):
        raise InvalidSignature("The HTTP Basic credential is missing or wrong.")


def anymail_view(view, *, esp: str):
    """Wrap one of anymail's tracking views: mounted only for the configured ESPs, authenticated
    before anymail reads the body, malformed bodies refused, refusals in the envelope."""

    @enveloped("POST", "HEAD", "OPTIONS")
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if esp not in configured_esps():
            raise NotFound("No webhook here.")
        _verify_basic_auth(request)
        if request.method == "POST":
            if b"\x00" in request.body:
                raise InvalidRequest("The body contains a NUL byte.")
            if request.content_type == "application/json":
                json_body(request)  # refuses what the ESP's parser could choke on
        try:
            return view(request, *args, **kwargs)
        except AnymailWebhookValidationFailure as exc:
            raise InvalidSignature(str(exc) or None) from exc
        except AnymailConfigurationError as exc:
            raise InvalidRequest(str(exc)) from exc
        except MALFORMED_PAYLOAD_ERRORS as exc:
            raise InvalidRequest("The webhook payload could not be parsed.") from exc

    return wrapper
