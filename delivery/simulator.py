"""Sandbox simulations: a sandbox send to a reserved recipient never leaves the machine and plays out
a provider's story. Its refusals and transient failures are the errors a provider's answer gives;
what happens after acceptance arrives as provider events through the same recording path as a real
provider's webhooks (``delivery_provider_event_record``), with the meanings anymail and Twilio give
those events, so the invitation, its webhooks, the suppression list and the timeline move exactly as
they would. Attempts name the provider "simulator"."""

from dataclasses import dataclass

from anymail.signals import AnymailTrackingEvent
from django.utils import timezone

from delivery.channels import DeliveryError, render
from delivery.models import DeliveryAttempt, ProviderEvent
from suppressions.models import Suppression

PROVIDER = "simulator"
# How many tries of flaky@simulator.test fail before one is accepted.
FLAKY_FAILURES = 2


@dataclass(frozen=True)
class Story:
    events: tuple[str, ...] = ()  # after acceptance, in order: anymail's event types (email), Twilio's statuses (SMS)
    refused: str = ""  # refused at send, for good, with this suppression reason
    flaky: bool = False  # FLAKY_FAILURES transient failures, then accepted


STORIES: dict[tuple[str, str], Story] = {
    ("email", "delivered@simulator.test"): Story(events=("delivered",)),
    ("email", "opened@simulator.test"): Story(events=("delivered", "opened")),
    ("email", "bounce@simulator.test"): Story(events=("bounced",)),
    ("email", "complaint@simulator.test"): Story(events=("delivered", "complained")),
    ("email", "refused@simulator.test"): Story(refused=Suppression.Reason.HARD_BOUNCE),
    ("email", "flaky@simulator.test"): Story(flaky=True),
    ("sms", "+15005550006"): Story(events=("delivered",)),
    ("sms", "+15005550009"): Story(refused=Suppression.Reason.INVALID_NUMBER),
    ("sms", "+15005550001"): Story(refused=Suppression.Reason.INVALID_NUMBER),
}

# Twilio's MessageStatus values a simulated SMS reports, as (kind, permanent).
SMS_STATUS_MEANINGS = {"delivered": (ProviderEvent.Kind.DELIVERED, False)}


def simulated_recipient(*, channel: str, recipient: str) -> bool:
    """Whether the (normalized) recipient is reserved for sandbox simulations."""
    return (channel, recipient.lower() if channel == "email" else recipient) in STORIES


def story_of(attempt: DeliveryAttempt) -> Story | None:
    """The story a sandbox attempt plays out, or None (a live one, or any other recipient)."""
    if attempt.livemode:
        return None
    key = attempt.recipient.lower() if attempt.channel == "email" else attempt.recipient
    return STORIES.get((attempt.channel, key))


def simulated_send(attempt: DeliveryAttempt, story: Story) -> str:
    """The send as the story has it: its message id, or the DeliveryError a provider would answer.
    The message is rendered, so a template error shows in sandbox too."""
    render(attempt)
    if story.refused:
        words = "an address that does not exist" if attempt.channel == "email" else "a number that cannot take SMS"
        raise DeliveryError(
            f"Recipient refused by the simulator: {attempt.recipient} is {words}.",
            permanent=True,
            suppress_as=story.refused,
        )
    if story.flaky and attempt.tries <= FLAKY_FAILURES:
        raise DeliveryError(
            f"The simulator failed try {attempt.tries} of {FLAKY_FAILURES + 1} on purpose: it passes later.",
            permanent=False,
        )
    return f"simulator-{attempt.pk}"


def story_play(*, attempt_id: int) -> int:
    """Report the accepted attempt's story as provider events, in order; how many were recorded."""
    # Here, not at the top: the providers' modules import the services, which import this one.
    from delivery.providers.anymail import email_event_meaning
    from delivery.services.events import delivery_provider_event_record

    attempt = DeliveryAttempt.objects.select_related("invitation").get(pk=attempt_id)
    story = story_of(attempt)
    if story is None:
        return 0
    for number, name in enumerate(story.events, start=1):
        if attempt.channel == "email":
            event = AnymailTrackingEvent(
                event_type=name,
                message_id=attempt.provider_message_id,
                timestamp=timezone.now(),
                description=f"Simulated {name} ({attempt.recipient})",
            )
            kind, permanent, suppress_as = email_event_meaning(event)
        else:
            (kind, permanent), suppress_as = SMS_STATUS_MEANINGS[name], ""
        delivery_provider_event_record(
            provider=PROVIDER,
            event_id=f"{attempt.provider_message_id}:{number}:{name}",
            channel=attempt.channel,
            kind=kind,
            provider_status=name,
            message_id=attempt.provider_message_id,
            permanent=permanent,
            description=f"Simulated {name}",
            occurred_at=timezone.now(),
            suppress_as=suppress_as,
        )
    return len(story.events)
