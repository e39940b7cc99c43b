"""Render an attempt's message from templates and hand it to the channel's provider."""

import smtplib
from dataclasses import dataclass
from email.utils import make_msgid

from anymail.exceptions import AnymailAPIError, AnymailRecipientsRefused
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from delivery.models import DeliveryAttempt
from delivery.sms import SmsError, SmsMessage, get_sms_backend
from invitations_project.languages import language_for


class DeliveryError(Exception):
    def __init__(self, message: str, *, permanent: bool):
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    text: str
    html: str
    language: str


def render(attempt: DeliveryAttempt) -> RenderedMessage:
    invitation = attempt.invitation
    language = language_for(invitation.locale)
    context = {
        "invitation": invitation,
        "link": invitation.link,
        "workflow": invitation.workflow,
        "attempt": attempt,
        "language": language,
    }
    with translation.override(language):
        if attempt.channel == "sms":
            text = render_to_string("delivery/sms/invitation.txt", context).strip()
            return RenderedMessage(subject="", text=text, html="", language=language)
        subject = " ".join(render_to_string("delivery/email/invitation_subject.txt", context).split())
        text = render_to_string("delivery/email/invitation_body.txt", context)
        html = render_to_string("delivery/email/invitation_body.html", context)
    return RenderedMessage(subject=subject, text=text, html=html, language=language)


def idempotency_key(attempt: DeliveryAttempt) -> str:
    return f"delivery-attempt-{attempt.pk}"


def _send_email(attempt: DeliveryAttempt, rendered: RenderedMessage) -> str:
    key = idempotency_key(attempt)
    message_id = make_msgid(idstring=key, domain=settings.DEFAULT_FROM_EMAIL.rpartition("@")[2] or None)
    message = EmailMultiAlternatives(
        subject=rendered.subject,
        body=rendered.text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[attempt.recipient],
        headers={"Message-ID": message_id, "X-Delivery-Attempt": key, "Content-Language": rendered.language},
    )
    message.attach_alternative(rendered.html, "text/html")
    # Read by anymail ESPs; the tracking webhooks echo the metadata back.
    message.metadata = {"delivery_attempt_id": str(attempt.pk), "invitation_token": attempt.invitation.token}
    message.tags = ["invitation"]
    try:
        message.send(fail_silently=False)
    except AnymailRecipientsRefused as exc:
        raise DeliveryError(f"Recipient refused: {exc}", permanent=True) from exc
    except AnymailAPIError as exc:
        status = getattr(exc, "status_code", None)
        # A 4xx refuses this message; but a timeout, a rate limit or our own credentials being
        # refused (401/403, fixed by an operator) may pass on a later try.
        permanent = status is not None and 400 <= status < 500 and status not in (401, 403, 408, 429)
        raise DeliveryError(f"Email provider error: {exc}", permanent=permanent) from exc
    except smtplib.SMTPRecipientsRefused as exc:
        raise DeliveryError(f"Recipient refused: {exc}", permanent=True) from exc
    except smtplib.SMTPResponseException as exc:
        raise DeliveryError(f"SMTP error {exc.smtp_code}: {exc}", permanent=500 <= exc.smtp_code < 600) from exc
    except (TimeoutError, smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"Email provider unreachable: {exc}", permanent=False) from exc
    anymail_status = getattr(message, "anymail_status", None)
    if anymail_status is not None and anymail_status.message_id:
        return str(anymail_status.message_id)
    return message_id


def sms_status_callback_url(attempt: DeliveryAttempt) -> str:
    return f"{settings.TWILIO_WEBHOOK_BASE_URL}{reverse('twilio-status-callback')}?attempt={attempt.pk}"


def _send_sms(attempt: DeliveryAttempt, rendered: RenderedMessage) -> str:
    sms = SmsMessage(
        to=attempt.recipient,
        body=rendered.text,
        sender=settings.SMS_FROM,
        idempotency_key=idempotency_key(attempt),
        status_callback=sms_status_callback_url(attempt),
        # A try lost with its worker may have reached Twilio, which takes no idempotency key.
        earlier_try_since=getattr(attempt, "lost_try_claimed_at", None),
    )
    try:
        return get_sms_backend().send(sms)
    except SmsError as exc:
        raise DeliveryError(f"SMS provider error: {exc}", permanent=exc.permanent) from exc
    except OSError as exc:
        raise DeliveryError(f"SMS provider unreachable: {exc}", permanent=False) from exc


def simulate(attempt: DeliveryAttempt) -> str:
    """The built-in test provider, for sandbox sends off the allow-list: the message is rendered (so
    a template error shows in sandbox too) and goes nowhere. Returns its message id."""
    render(attempt)
    return f"simulated-{attempt.pk}"


def send(attempt: DeliveryAttempt) -> str:
    """Send the attempt's message; return the provider's message id or raise DeliveryError."""
    rendered = render(attempt)
    if attempt.channel == "sms":
        return _send_sms(attempt, rendered)
    return _send_email(attempt, rendered)
