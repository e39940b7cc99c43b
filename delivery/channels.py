"""Render an attempt's message from templates and hand it to the channel's provider."""

import re
import smtplib
import threading
from dataclasses import dataclass
from datetime import datetime
from email.utils import make_msgid

import requests
import urllib3
from anymail.backends.base import AnymailBaseBackend
from anymail.exceptions import AnymailAPIError, AnymailRecipientsRefused
from anymail.message import AnymailMessage
from django.conf import settings
from django.core.mail import get_connection
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.module_loading import import_string

from delivery.models import DeliveryAttempt
from delivery.providers import postmark
from delivery.sms import SmsError, SmsMessage, get_sms_backend
from invitations.languages import canonical_tag, language_for
from suppressions.models import Suppression


class DeliveryError(Exception):
    """A send that failed; the message is a sentence people read (errorMessage, the admin, webhooks).
    ``permanent``: trying again cannot help. ``unsure``: the provider may have taken it anyway.
    ``suppress_as``: the refusal says the address cannot or must not be reached (a Suppression.Reason)."""

    def __init__(self, message: str, *, permanent: bool, unsure: bool = False, suppress_as: str = ""):
        super().__init__(message)
        self.permanent = permanent
        self.unsure = unsure
        self.suppress_as = suppress_as


# "5.1.1 User unknown": an enhanced status code (RFC 3463) before the server's words.
_ENHANCED_STATUS = re.compile(r"^([245]\.\d{1,3}\.\d{1,3})\s+(.*)$", re.DOTALL)


def smtp_reply(code: int, message: bytes | str) -> str:
    """An SMTP reply as words: "(550 5.1.1): User unknown"."""
    text = message.decode("utf-8", errors="replace") if isinstance(message, bytes) else str(message)
    text = " ".join(text.split())
    match = _ENHANCED_STATUS.match(text)
    if match:
        return f"({code} {match.group(1)}): {match.group(2)}"
    return f"({code}): {text}" if text else f"({code})"


def _smtp_error(exc: smtplib.SMTPException) -> DeliveryError:
    """An SMTP refusal told truly: a 4xx (greylisting, a full queue) is tried again, a 5xx is final."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        replies = list(exc.recipients.values())
        code, message = replies[0] if replies else (0, b"")
        return DeliveryError(
            f"Recipient refused {smtp_reply(code, message)}",
            permanent=bool(replies) and all(500 <= reply[0] < 600 for reply in replies),
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        what = {
            smtplib.SMTPSenderRefused: "Sender refused",
            smtplib.SMTPDataError: "Message refused",
            smtplib.SMTPAuthenticationError: "Login to the mail server refused",
        }.get(type(exc), "Mail server error")
        # Our own login refused is fixed by an operator: never final for this message.
        permanent = 500 <= exc.smtp_code < 600 and not isinstance(exc, smtplib.SMTPAuthenticationError)
        return DeliveryError(f"{what} {smtp_reply(exc.smtp_code, exc.smtp_error)}", permanent=permanent)
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return DeliveryError("The mail server closed the connection.", permanent=False, unsure=True)
    return DeliveryError(f"Mail server error: {exc}", permanent=False)


def never_connected(exc: BaseException) -> bool:
    """Whether a requests error (or anymail's, raised from one) happened before any connection was
    open: the provider never saw the call, so it may go to another provider at once."""
    for error in (exc, exc.__cause__, exc.__context__):
        if isinstance(error, requests.ConnectTimeout):
            return True
        inner = error.args[0] if error is not None and error.args and isinstance(error.args[0], BaseException) else None
        if isinstance(getattr(inner, "reason", None), urllib3.exceptions.NewConnectionError):
            return True
    return False


# The template engine for plain text: no HTML escaping (settings.TEMPLATES).
TEXT = "text"


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    text: str
    html: str
    language: str


def render(attempt: DeliveryAttempt) -> RenderedMessage:
    invitation = attempt.invitation
    code = language_for(invitation.locale)
    # As <html lang> and Content-Language name it: pt-BR.
    language = canonical_tag(code)
    context = {
        "invitation": invitation,
        "link": invitation.link,
        "workflow": invitation.workflow,
        "attempt": attempt,
        "reminder": attempt.is_reminder,
        "expiry_warning": attempt.is_expiry_warning,
        "language": language,
    }
    with translation.override(code):
        if attempt.channel == "sms":
            text = render_to_string("delivery/sms/invitation.txt", context, using=TEXT).strip()
            return RenderedMessage(subject="", text=text, html="", language=language)
        subject = " ".join(render_to_string("delivery/email/invitation_subject.txt", context, using=TEXT).split())
        text = render_to_string("delivery/email/invitation_body.txt", context, using=TEXT)
        html = render_to_string("delivery/email/invitation_body.html", context)
    return RenderedMessage(subject=subject, text=text, html=html, language=language)


# The metadata key naming the attempt in every email: the tracking webhooks echo it back, and the
# provider's message search finds an earlier try's message by it.
ATTEMPT_METADATA_KEY = "delivery_attempt_id"


def idempotency_key(attempt: DeliveryAttempt) -> str:
    return f"delivery-attempt-{attempt.pk}"


def _email_message(attempt: DeliveryAttempt, rendered: RenderedMessage, backend: str = "") -> AnymailMessage:
    key = idempotency_key(attempt)
    message_id = make_msgid(idstring=key, domain=settings.DEFAULT_FROM_EMAIL.rpartition("@")[2] or None)
    message = AnymailMessage(
        subject=rendered.subject,
        body=rendered.text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[attempt.recipient],
        headers={"Message-ID": message_id, "X-Delivery-Attempt": key, "Content-Language": rendered.language},
    )
    message.attach_alternative(rendered.html, "text/html")
    message.connection = _email_connection(backend or settings.EMAIL_BACKEND)
    # Read by anymail ESPs; the tracking webhooks echo the metadata back.
    message.metadata = {ATTEMPT_METADATA_KEY: str(attempt.pk), "invitation_token": attempt.invitation.token}
    message.tags = ["invitation"]
    return message


def _recipient_refused(said: str) -> DeliveryError:
    return DeliveryError(
        f"Recipient refused by the email provider: {said}", permanent=True, suppress_as=Suppression.Reason.HARD_BOUNCE
    )


def earlier_try_since(attempt: DeliveryAttempt) -> datetime | None:
    """When the earliest try of this attempt began that may have reached the provider unrecorded (its
    worker lost, or its answer never came), or None. Such a try is looked for before sending again."""
    tries = (getattr(attempt, "lost_try_claimed_at", None), attempt.unsure_since)
    return min((when for when in tries if when is not None), default=None)


def _earlier_email(attempt: DeliveryAttempt) -> str | None:
    """The id of the message an earlier, unrecorded try of this attempt left with the provider, if it
    did. Postmark takes no idempotency key, so it is asked: its outbound message search by the
    attempt's metadata. Another email backend cannot be asked (None: the send goes again)."""
    earlier_provider = getattr(attempt, "earlier_provider", "") or (
        "postmark" if settings.EMAIL_BACKEND == POSTMARK_BACKEND else ""
    )
    if earlier_try_since(attempt) is None or earlier_provider != "postmark":
        return None
    try:
        return postmark.postmark_outbound_message_id(metadata_key=ATTEMPT_METADATA_KEY, value=str(attempt.pk))
    except (requests.RequestException, ValueError, KeyError) as exc:
        raise DeliveryError(
            f"Not sent again yet: the email provider could not say whether an earlier try reached it "
            f"({exc.__class__.__name__}).",
            permanent=False,
            unsure=True,
        ) from exc


def _send_email(attempt: DeliveryAttempt, rendered: RenderedMessage, backend: str = "") -> str:
    earlier = _earlier_email(attempt)
    if earlier is not None:
        return earlier
    message = _email_message(attempt, rendered, backend)
    try:
        message.send(fail_silently=False)
    except AnymailRecipientsRefused as exc:
        raise _recipient_refused(_provider_said(exc) or _first_line(exc)) from exc
    except AnymailAPIError as exc:
        raise _provider_error(exc) from exc
    except smtplib.SMTPException as exc:
        raise _smtp_error(exc) from exc
    except TimeoutError as exc:
        raise DeliveryError("The mail server did not answer in time.", permanent=False, unsure=True) from exc
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise DeliveryError(f"The mail server could not be reached: {reason}.", permanent=False) from exc
    anymail_status = getattr(message, "anymail_status", None)
    if anymail_status is not None and anymail_status.message_id:
        return str(anymail_status.message_id)
    return str(message.extra_headers["Message-ID"])


# Postmark's per-message error codes (https://postmarkapp.com/developer/api/overview#error-codes):
# 300 an invalid message (its 'To' address, when the words say so), 406 an inactive recipient (a hard
# bounce or a spam complaint before). These may pass later: 10 (our server token refused, fixed by an
# operator), 100 (maintenance), 405 (the account may not send now), 429 (rate limit).
_POSTMARK_TRANSIENT_CODES = {10, 100, 405, 429}
POSTMARK_BACKEND = "anymail.backends.postmark.EmailBackend"


def email_batch_size(backend: str = "") -> int:
    """How many emails go to the provider in one call: Postmark's batch limit for anymail's Postmark
    backend; 1 (a call each) for any other backend."""
    return postmark.BATCH_LIMIT if (backend or settings.EMAIL_BACKEND) == POSTMARK_BACKEND else 1


def send_email_batch(attempts: list[DeliveryAttempt], backend: str = "") -> list[str | DeliveryError]:
    """The attempts' emails in one call to Postmark's /email/batch: each its own message, with its own
    recipient, idempotency key and metadata, as a single send's. Postmark answers one result per
    message, in order: each attempt's message id, or the DeliveryError for it. A call that fails as
    a whole fails each of its messages alike."""
    messages = [postmark.postmark_message(_email_message(attempt, render(attempt), backend)) for attempt in attempts]
    try:
        response = postmark.postmark_batch_send(messages)
    except requests.RequestException as exc:
        # It may have reached the provider, unless no connection was ever open: each retry asks it
        # first (``_earlier_email``).
        if never_connected(exc):
            error = DeliveryError(
                f"The email provider could not be reached: {exc.__class__.__name__}.", permanent=False
            )
        elif isinstance(exc, requests.Timeout):
            error = DeliveryError("The email provider did not answer in time.", permanent=False, unsure=True)
        else:
            cause = exc.__class__.__name__
            error = DeliveryError(f"The email provider could not be reached: {cause}.", permanent=False, unsure=True)
        return [error] * len(attempts)
    if response.status_code != 200:
        error = _http_refusal(response.status_code, _said(response), f"HTTP {response.status_code}")
        return [error] * len(attempts)
    try:
        answers = response.json()
    except ValueError:
        answers = None
    if not isinstance(answers, list) or len(answers) != len(attempts):
        # The messages may have been taken: each retry asks the provider first.
        error = DeliveryError("The email provider's batch answer could not be read.", permanent=False, unsure=True)
        return [error] * len(attempts)
    return [_batch_result(answer) for answer in answers]


def _batch_result(answer) -> str | DeliveryError:
    code = answer.get("ErrorCode", 0) if isinstance(answer, dict) else -1
    said = " ".join(str(answer.get("Message", "")).split()) if isinstance(answer, dict) else ""
    if code == 0 and answer.get("MessageID"):
        if "inactive addresses" not in said:
            return str(answer["MessageID"])
        return _recipient_refused(said)
    if code == 406 or (code == 300 and re.match(r"^(Invalid|Error\s+parsing)\s+'To'", said, re.IGNORECASE)):
        return _recipient_refused(said)
    if code == -1:
        return DeliveryError("The email provider's batch answer could not be read.", permanent=False, unsure=True)
    return DeliveryError(
        f"The email provider refused the message (error {code}): {said or 'no reason given'}",
        permanent=code not in _POSTMARK_TRANSIENT_CODES,
    )


_email = threading.local()


def _email_connection(backend: str):
    """This thread's connection to an email provider's API, kept open from one send to the next (its
    HTTP session and the TCP connection under it reused), for an anymail backend; None (one
    connection per send, Django's default) for any other backend."""
    key = (backend, repr(sorted(settings.ANYMAIL.items())))
    cached = getattr(_email, "cached", None) or {}
    if key in cached:
        return cached[key]
    connection = get_connection(backend, fail_silently=False)
    if not isinstance(connection, AnymailBaseBackend):
        connection = None
    elif hasattr(connection, "open"):
        connection.open()
    _email.cached = {**cached, key: connection}
    return connection


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [exc.__class__.__name__])[0]


def _said(response) -> str:
    """The words of a provider's answer (its JSON's Message), or ""."""
    try:
        answer = response.json() if response is not None else {}
    except ValueError:
        return ""
    said = (answer.get("Message") or answer.get("message") or "") if isinstance(answer, dict) else ""
    return " ".join(str(said).split())


def _provider_said(exc: AnymailAPIError) -> str:
    return _said(getattr(exc, "response", None))


def _http_refusal(status: int, said: str, fallback: str) -> DeliveryError:
    """A provider's HTTP refusal in words. A 4xx refuses this message; but a timeout, a rate limit
    or our own credentials being refused (401/403, fixed by an operator) may pass on a later try."""
    permanent = 400 <= status < 500 and status not in (401, 403, 408, 429)
    return DeliveryError(
        f"The email provider refused the message (HTTP {status}): {said or fallback}", permanent=permanent
    )


def _provider_error(exc: AnymailAPIError) -> DeliveryError:
    """An email provider's API error in words: its own message when its answer has one."""
    status = getattr(exc, "status_code", None)
    if status is None:
        # No answer at all: the last line of anymail's text is the cause ("Connection refused"). It may
        # have reached the provider, unless no connection was ever open.
        cause = (str(exc).strip().splitlines() or ["no answer"])[-1].rpartition(": ")[2]
        return DeliveryError(
            f"The email provider could not be reached: {cause}.", permanent=False, unsure=not never_connected(exc)
        )
    return _http_refusal(status, _provider_said(exc), _first_line(exc))


def sms_status_callback_url(attempt: DeliveryAttempt) -> str:
    return f"{settings.TWILIO_WEBHOOK_BASE_URL}{reverse('twilio-status-callback')}?attempt={attempt.pk}"


def _send_sms(attempt: DeliveryAttempt, rendered: RenderedMessage, backend: str = "") -> str:
    sms = SmsMessage(
        to=attempt.recipient,
        body=rendered.text,
        sender=settings.SMS_FROM,
        idempotency_key=idempotency_key(attempt),
        status_callback=sms_status_callback_url(attempt),
        # A try lost with its worker, or one whose answer never came, may have reached Twilio, which
        # takes no idempotency key: the earliest such try.
        earlier_try_since=earlier_try_since(attempt),
    )
    try:
        return (import_string(backend)() if backend else get_sms_backend()).send(sms)
    except SmsError as exc:
        raise DeliveryError(str(exc), permanent=exc.permanent, unsure=exc.unsure, suppress_as=exc.suppress_as) from exc
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise DeliveryError(f"The SMS provider could not be reached: {reason}.", permanent=False) from exc


def simulate(attempt: DeliveryAttempt) -> str:
    """The built-in test provider, for sandbox sends off the allow-list: the message is rendered (so
    a template error shows in sandbox too) and goes nowhere. Returns its message id."""
    render(attempt)
    return f"simulated-{attempt.pk}"


def send(attempt: DeliveryAttempt, backend: str = "") -> str:
    """Send the attempt's message through ``backend`` (a dotted path; the channel's configured one
    when empty); return the provider's message id or raise DeliveryError."""
    rendered = render(attempt)
    if attempt.channel == "sms":
        return _send_sms(attempt, rendered, backend)
    return _send_email(attempt, rendered, backend)
