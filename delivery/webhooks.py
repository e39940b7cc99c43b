"""Provider webhooks: anymail's tracking views for email, Twilio's status callback for SMS.

Public (no API key), authenticated by the provider's signature or basic auth, errors in the
API's envelope. A 5xx answer makes the provider deliver the event again later.
"""

from anymail.exceptions import AnymailConfigurationError, AnymailWebhookValidationFailure
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from twilio.request_validator import RequestValidator

from delivery.services import delivery_sms_status_record
from invitations_project.errors import InvalidRequest, ServiceUnavailable
from invitations_project.webhooks import InvalidSignature, enveloped


def anymail_view(view):
    """Wrap one of anymail's webhook views so its refusals use the envelope."""

    @enveloped("POST", "HEAD", "OPTIONS")
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except AnymailWebhookValidationFailure as exc:
            raise InvalidSignature(str(exc) or None) from exc
        except AnymailConfigurationError as exc:
            raise InvalidRequest(str(exc)) from exc
        except (ValueError, KeyError, TypeError) as exc:
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
    message_sid = request.POST.get("MessageSid", "")
    message_status = request.POST.get("MessageStatus", "")
    if not message_sid or not message_status:
        raise InvalidRequest(
            "MessageSid and MessageStatus are required.",
            fields={name: ["Required."] for name in ("MessageSid", "MessageStatus") if not request.POST.get(name)},
        )
    delivery_sms_status_record(
        message_sid=message_sid,
        message_status=message_status,
        error_code=request.POST.get("ErrorCode", ""),
        attempt_hint=request.GET.get("attempt", ""),
    )
    return HttpResponse(status=204)
