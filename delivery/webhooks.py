"""Provider webhooks: anymail's tracking views for email, Twilio's status callback for SMS.

Public (no API key), authenticated by the provider's signature or HTTP Basic credential, throttled
per IP, errors in the API's envelope. A 5xx answer makes the provider deliver the event again later.
"""

from anymail.exceptions import AnymailConfigurationError, AnymailWebhookValidationFailure
from anymail.utils import get_request_basic_auth
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.crypto import constant_time_compare
from twilio.request_validator import RequestValidator

from delivery.services import delivery_sms_status_record
from invitations_project.errors import InvalidRequest, NotFound, ServiceUnavailable
from invitations_project.webhooks import InvalidSignature, enveloped, form_value, json_body

# What anymail's parsers raise on a payload of the wrong shape (a list where an object belongs, a
# string where a number does, an impossible date).
MALFORMED_PAYLOAD_ERRORS = (ValueError, KeyError, TypeError, AttributeError, IndexError, OverflowError, RecursionError)


def configured_esp() -> str | None:
    """The anymail ESP that EMAIL_BACKEND sends through (anymail.backends.<esp>.EmailBackend), if any."""
    parts = settings.EMAIL_BACKEND.split(".")
    if len(parts) == 4 and parts[:2] == ["anymail", "backends"]:
        return parts[2]
    return None


def _webhook_secrets() -> list[str]:
    secret = settings.ANYMAIL.get("WEBHOOK_SECRET") or []
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
    """Wrap one of anymail's tracking views: mounted only for the configured ESP, authenticated
    before anymail reads the body, malformed bodies refused, refusals in the envelope."""

    @enveloped("POST", "HEAD", "OPTIONS")
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if esp != configured_esp():
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


def _twilio_url(request: HttpRequest) -> str:
    # The URL Twilio called, as Twilio saw it: behind a proxy the request's own host may differ.
    return settings.TWILIO_WEBHOOK_BASE_URL + request.get_full_path()


@enveloped("POST")
def twilio_status_callback(request: HttpRequest) -> HttpResponse:
    if not settings.TWILIO_AUTH_TOKEN:
        raise ServiceUnavailable("Twilio is not configured on this server.")
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature or not RequestValidator(settings.TWILIO_AUTH_TOKEN).validate(
        _twilio_url(request), request.POST, signature
    ):
        raise InvalidSignature("The X-Twilio-Signature header is missing or does not match the request.")
    message_sid = form_value(request, "MessageSid", max_length=64)
    message_status = form_value(request, "MessageStatus", max_length=40)
    if not message_sid or not message_status:
        raise InvalidRequest(
            "MessageSid and MessageStatus are required.",
            fields={name: ["Required."] for name in ("MessageSid", "MessageStatus") if not request.POST.get(name)},
        )
    delivery_sms_status_record(
        message_sid=message_sid,
        message_status=message_status,
        error_code=form_value(request, "ErrorCode", max_length=16),
        attempt_hint=request.GET.get("attempt", "")[:20],
    )
    return HttpResponse(status=204)
