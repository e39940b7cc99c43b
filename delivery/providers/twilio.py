"""SMS through Twilio: its Messages API backend (which errors are worth a retry), what its status
callbacks and error codes mean for a send, and the signed callback endpoint."""

import threading
from datetime import timedelta

import requests
import urllib3
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from api.errors import InvalidRequest, ServiceUnavailable
from api.inbound import InvalidSignature, enveloped, form_value
from delivery.models import ProviderEvent
from delivery.services.events import delivery_provider_event_record
from delivery.sms import BaseSmsBackend, PermanentSmsError, SmsError, SmsMessage, TransientSmsError, UnsureSmsError
from invitations.models import Invitation
from suppressions.models import Suppression

TWILIO_API = "https://api.twilio.com"


class _TwilioHttpClient(TwilioHttpClient):
    """The twilio client's own HTTP client, sending the Messages API's calls to TWILIO_API_BASE_URL."""

    def __init__(self, *, base_url: str, **options):
        super().__init__(**options)
        self.base_url = base_url
        if self.session is not None:
            # The environment's proxies and CA bundle, read once for this client rather than on every
            # call (requests' trust_env walks the whole environment per request).
            environment = self.session.merge_environment_settings(base_url, {}, None, None, None)
            self.session.proxies.update(environment["proxies"])
            self.session.verify = environment["verify"]
            self.session.trust_env = False

    def request(self, method: str, url: str, *args, **kwargs):
        if url.startswith(TWILIO_API + "/"):
            url = self.base_url + url.removeprefix(TWILIO_API)
        return super().request(method, url, *args, **kwargs)


_clients = threading.local()


def _never_connected(exc: BaseException) -> bool:
    """Whether the request failed before a connection was open (so Twilio never saw it)."""
    inner = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else None
    return isinstance(getattr(inner, "reason", None), urllib3.exceptions.NewConnectionError)


def _reason(exc: BaseException) -> str:
    """The innermost cause of a requests error, as words (not the chain of reprs requests gives)."""
    while exc.__context__ is not None and exc.__context__ is not exc:
        exc = exc.__context__
    text = getattr(exc, "strerror", None) or str(exc.args[0] if exc.args else exc.__class__.__name__)
    return text.rsplit(": ", 1)[-1].strip(" '\"()") or exc.__class__.__name__


def _client() -> Client:
    """This thread's twilio client for the current settings: its HTTP session, and the connection
    it keeps open to the API, are reused from one send to the next."""
    key = (
        settings.TWILIO_ACCOUNT_SID,
        settings.TWILIO_AUTH_TOKEN,
        settings.TWILIO_API_BASE_URL,
        settings.SMS_TIMEOUT_SECONDS,
    )
    cached = getattr(_clients, "cached", None)
    if cached is None or cached[0] != key:
        http_client = _TwilioHttpClient(base_url=settings.TWILIO_API_BASE_URL, timeout=settings.SMS_TIMEOUT_SECONDS)
        cached = (key, Client(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN, http_client=http_client))
        _clients.cached = cached
    return cached[1]


# How many of the number's latest messages a retried send looks through for its own, and how far
# Twilio's clock (and its whole-second dates) may be from ours. Any earlier try of the same body
# that is known to have failed came at least a retry interval (a minute) before the lost one.
EARLIER_MESSAGES_LOOKED_AT = 20
CLOCK_SKEW = timedelta(seconds=5)


class TwilioSmsBackend(BaseSmsBackend):
    """Sends through Twilio's Messages API with the official client.

    Twilio's Messages API takes no idempotency key, so the attempt travels in the status callback
    URL instead; the callback then names the attempt even before its message SID is recorded.
    """

    # Refusals about this message or recipient; anything else (auth, rate, 5xx) may pass later.
    PERMANENT_STATUSES = frozenset({400, 404, 409, 413, 422})

    def __init__(self):
        if not (settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN):
            raise TransientSmsError("Twilio is not configured: set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN.")
        self.client = _client()

    def send(self, message: SmsMessage) -> str:
        try:
            if message.earlier_try_since is not None:
                already = self._earlier_message(message)
                if already is not None:
                    return already
            return self._create(message)
        except (TwilioException, requests.RequestException) as exc:
            raise self._error(exc) from exc

    def _error(self, exc: Exception) -> SmsError:
        """What a failed call means: a refusal to keep, one to try again, or an answer lost on the way."""
        if isinstance(exc, TwilioRestException):
            text = f"Twilio refused the message (HTTP {exc.status}, error {exc.code}): {exc.msg}"
            # Twilio answered: it made no message (a refusal to keep, or one to try again).
            if exc.status not in self.PERMANENT_STATUSES:
                return TransientSmsError(text)
            return PermanentSmsError(text, suppress_as=twilio_suppression(str(exc.code or "")))
        if isinstance(exc, requests.ConnectTimeout) or _never_connected(exc):
            return TransientSmsError(f"Twilio could not be reached: {_reason(exc)}.")
        if isinstance(exc, requests.Timeout):
            return UnsureSmsError(f"Twilio did not answer within {settings.SMS_TIMEOUT_SECONDS} s.")
        if isinstance(exc, requests.RequestException):
            # Refused before anything was sent, or dropped after: either way, look before sending again.
            return UnsureSmsError(f"The connection to Twilio failed: {_reason(exc)}.")
        return TransientSmsError(f"Twilio error: {exc}")

    def _create(self, message: SmsMessage) -> str:
        options = {"to": message.to, "body": message.body}
        if settings.TWILIO_MESSAGING_SERVICE_SID:
            options["messaging_service_sid"] = settings.TWILIO_MESSAGING_SERVICE_SID
        else:
            options["from_"] = message.sender
        if message.status_callback:
            options["status_callback"] = message.status_callback
        return self.client.messages.create(**options).sid

    def _earlier_message(self, message: SmsMessage) -> str | None:
        """The SID of the message a lost try created, if Twilio has one: to this number, with this
        body, created since that try began. Twilio's Messages API takes no idempotency key; without
        this, a try whose answer was lost with its worker would send the SMS a second time."""
        if message.earlier_try_since is None:
            return None
        since = message.earlier_try_since - CLOCK_SKEW
        for earlier in self.client.messages.list(to=message.to, limit=EARLIER_MESSAGES_LOOKED_AT):
            created = earlier.date_created
            if earlier.body == message.body and created is not None and created >= since:
                return earlier.sid
        return None


# Twilio MessageStatus -> kind. `read` is a read receipt (WhatsApp, RCS).
TWILIO_STATUS_KINDS = {
    "accepted": ProviderEvent.Kind.QUEUED,
    "scheduled": ProviderEvent.Kind.QUEUED,
    "queued": ProviderEvent.Kind.QUEUED,
    "sending": ProviderEvent.Kind.QUEUED,
    "sent": ProviderEvent.Kind.QUEUED,
    "delivered": ProviderEvent.Kind.DELIVERED,
    "read": ProviderEvent.Kind.OPENED,
    "undelivered": ProviderEvent.Kind.FAILED,
    "failed": ProviderEvent.Kind.FAILED,
    "canceled": ProviderEvent.Kind.FAILED,
}
# Twilio MessageStatus -> the timeline's event type, where Twilio's word differs from the email
# providers' (anymail's normalized event types).
TWILIO_TIMELINE_TYPES = {"undelivered": "bounced", "read": "opened"}
# Twilio error codes worth another try: queue overflow, handset unreachable (off, no signal),
# unknown error, carrier congestion. Every other failure (unknown number, landline, blocked,
# unsubscribed) will not get better by itself.
TWILIO_TRANSIENT_ERROR_CODES = frozenset({"30001", "30003", "30008", "30017"})
# Twilio error codes that say the number must not or cannot be reached: the recipient replied STOP
# (21610, and 30004 when the block is theirs), or the number is not one that takes SMS (invalid,
# a landline, unknown to its carrier, unreachable by SMS).
TWILIO_SUPPRESSION_CODES = {
    "21610": Suppression.Reason.UNSUBSCRIBED,
    "21211": Suppression.Reason.INVALID_NUMBER,
    "21612": Suppression.Reason.INVALID_NUMBER,
    "21614": Suppression.Reason.INVALID_NUMBER,
    "30005": Suppression.Reason.INVALID_NUMBER,
    "30006": Suppression.Reason.INVALID_NUMBER,
}


def twilio_suppression(error_code: str) -> str:
    """The suppression reason a Twilio error code stands for, or ""."""
    return TWILIO_SUPPRESSION_CODES.get(error_code, "")


def delivery_sms_status_record(
    *, message_sid: str, message_status: str, error_code: str = "", attempt_hint: str = ""
) -> ProviderEvent:
    """Apply one Twilio status callback."""
    kind = TWILIO_STATUS_KINDS.get(message_status, ProviderEvent.Kind.OTHER)
    permanent = kind == ProviderEvent.Kind.FAILED and (
        message_status == "canceled" or error_code not in TWILIO_TRANSIENT_ERROR_CODES
    )
    description = ""
    if kind == ProviderEvent.Kind.FAILED:
        description = f"SMS {message_status}" + (f" (Twilio error {error_code})" if error_code else "")
    return delivery_provider_event_record(
        provider="twilio",
        event_id=f"{message_sid}:{message_status}",
        channel=Invitation.Channel.SMS,
        kind=kind,
        provider_status=message_status,
        message_id=message_sid,
        attempt_hint=attempt_hint,
        permanent=permanent,
        description=description,
        suppress_as=twilio_suppression(error_code) if kind == ProviderEvent.Kind.FAILED else "",
    )


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
