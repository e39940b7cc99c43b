"""SMS backends behind one interface, chosen by settings.SMS_BACKEND (like Django's email backends)."""

import sys
import threading
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.utils.module_loading import import_string


class SmsError(Exception):
    """Base for provider refusals; `permanent` says whether trying again could help."""

    permanent = False


class TransientSmsError(SmsError):
    permanent = False


class PermanentSmsError(SmsError):
    permanent = True


@dataclass(frozen=True)
class SmsMessage:
    to: str
    body: str
    sender: str
    idempotency_key: str
    # Where the provider reports delivery; it names the attempt, so events find it.
    status_callback: str = ""


class BaseSmsBackend:
    def send(self, message: SmsMessage) -> str:
        """Hand the message to the provider and return its message id; raise SmsError on refusal."""
        raise NotImplementedError


class ConsoleSmsBackend(BaseSmsBackend):
    def __init__(self, stream=None):
        self.stream = stream or sys.stdout
        self._lock = threading.Lock()

    def send(self, message: SmsMessage) -> str:
        message_id = f"console-{uuid.uuid4().hex}"
        with self._lock:
            self.stream.write(
                f"SMS from {message.sender} to {message.to} (id {message_id}, key {message.idempotency_key}):\n"
                f"{message.body}\n{'-' * 79}\n"
            )
            self.stream.flush()
        return message_id


# Messages sent through the locmem backend, for tests (like django.core.mail.outbox).
outbox: list[SmsMessage] = []


class LocmemSmsBackend(BaseSmsBackend):
    def send(self, message: SmsMessage) -> str:
        outbox.append(message)
        return f"locmem-{uuid.uuid4().hex}"


class TwilioSmsBackend(BaseSmsBackend):
    """Sends through Twilio's Messages API with the official client.

    Twilio's Messages API takes no idempotency key, so the attempt travels in the status callback
    URL instead; the callback then names the attempt even before its message SID is recorded.
    """

    # Refusals about this message or recipient; anything else (auth, rate, 5xx) may pass later.
    PERMANENT_STATUSES = frozenset({400, 404, 409, 413, 422})

    def __init__(self):
        from twilio.http.http_client import TwilioHttpClient
        from twilio.rest import Client

        if not (settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN):
            raise TransientSmsError("Twilio is not configured: set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN.")
        self.client = Client(
            settings.TWILIO_ACCOUNT_SID,
            settings.TWILIO_AUTH_TOKEN,
            http_client=TwilioHttpClient(timeout=settings.SMS_TIMEOUT_SECONDS),
        )

    def send(self, message: SmsMessage) -> str:
        import requests
        from twilio.base.exceptions import TwilioException, TwilioRestException

        options = {"to": message.to, "body": message.body}
        if settings.TWILIO_MESSAGING_SERVICE_SID:
            options["messaging_service_sid"] = settings.TWILIO_MESSAGING_SERVICE_SID
        else:
            options["from_"] = message.sender
        if message.status_callback:
            options["status_callback"] = message.status_callback
        try:
            sent = self.client.messages.create(**options)
        except TwilioRestException as exc:
            text = f"Twilio {exc.status} error {exc.code}: {exc.msg}"
            if exc.status in self.PERMANENT_STATUSES:
                raise PermanentSmsError(text) from exc
            raise TransientSmsError(text) from exc
        except requests.RequestException as exc:
            raise TransientSmsError(f"Twilio unreachable: {exc}") from exc
        except TwilioException as exc:
            raise TransientSmsError(f"Twilio error: {exc}") from exc
        return sent.sid


def get_sms_backend() -> BaseSmsBackend:
    return import_string(settings.SMS_BACKEND)()
