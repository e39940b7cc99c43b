"""SMS backends behind one interface, chosen by settings.SMS_BACKEND (like Django's email backends)."""

import math
import sys
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.utils.module_loading import import_string


class SmsError(Exception):
    """Base for provider refusals; `permanent` says whether trying again could help, `unsure` that
    the provider may have taken the message all the same (the answer was lost, not the request)."""

    permanent = False
    unsure = False
    # A suppression reason (Suppression.Reason) when the refusal says the number cannot or must not
    # be reached (an opt-out, a number that takes no SMS).
    suppress_as = ""

    def __init__(self, message: str = "", *, suppress_as: str = ""):
        super().__init__(message)
        self.suppress_as = suppress_as


class TransientSmsError(SmsError):
    permanent = False


class UnsureSmsError(TransientSmsError):
    """The request may have reached the provider (a timeout waiting for its answer, a connection
    dropped after sending): the next try looks for the message before sending another."""

    unsure = True


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
    # Set when an earlier try of this send may have reached the provider (its worker was lost
    # mid-call, or its request timed out waiting for the answer): when that try began. A provider
    # that takes no idempotency key looks for the message it may have created before sending another.
    earlier_try_since: datetime | None = None


# GSM 03.38: what one 7-bit character can be, and the extension table's characters (two each).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿"
    "abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")


def sms_segments(text: str) -> tuple[str, int]:
    """The encoding a text needs ("GSM-7" or "UCS-2") and how many SMS segments it takes."""
    if all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in text):
        septets = len(text) + sum(char in GSM7_EXTENSION for char in text)
        return "GSM-7", 1 if septets <= 160 else math.ceil(septets / 153)
    units = len(text.encode("utf-16-le")) // 2
    return "UCS-2", 1 if units <= 70 else math.ceil(units / 67)


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
        encoding, segments = sms_segments(message.body)
        with self._lock:
            self.stream.write(
                f"SMS from {message.sender} to {message.to} (id {message_id}, key {message.idempotency_key}, "
                f"{segments} {encoding} segment{'s' if segments > 1 else ''}):\n"
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


def get_sms_backend() -> BaseSmsBackend:
    return import_string(settings.SMS_BACKEND)()


def __getattr__(name: str):
    # SMS_BACKEND=delivery.sms.TwilioSmsBackend, as documented, names the backend where it lives now.
    if name == "TwilioSmsBackend":
        from delivery.providers.twilio import TwilioSmsBackend

        return TwilioSmsBackend
    raise AttributeError(name)
