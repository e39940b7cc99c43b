"""A provider's reports as the delivery timeline names them (the API's attempts and the admin's table)."""

from datetime import datetime

from delivery.models import DeliveryAttempt, ProviderEvent
from delivery.providers.twilio import TWILIO_TIMELINE_TYPES
from delivery.selectors import delivery_attempts_for


def event_type(event: ProviderEvent) -> str:
    """One vocabulary for every provider: anymail's event types (delivered, opened, clicked, deferred,
    bounced, failed, ...), with Twilio's statuses mapped onto them."""
    status = event.provider_status.lower()
    if event.provider == "twilio":
        return TWILIO_TIMELINE_TYPES.get(status, status)
    return status or event.kind


def event_at(event: ProviderEvent) -> datetime:
    return event.occurred_at or event.received_at


def first_event_at(attempt: DeliveryAttempt, kind: str) -> datetime | None:
    """When the provider first reported ``kind`` (delivered, opened) for this attempt."""
    moments = [event_at(event) for event in attempt.provider_events.all() if event.kind == kind]
    return min(moments) if moments else None


def attempt_timeline_rows(*, invitation_id: int) -> list[tuple]:
    """(when, what, event, details, by) for each attempt's queueing, acceptance, failure and provider
    reports, the provider's own words included, for the admin's timeline table."""
    rows = []
    for attempt in delivery_attempts_for(invitation_id=invitation_id):
        send = f"send #{attempt.number} ({attempt.channel})"
        rows.append((attempt.created_at, send, "queued", attempt.recipient, attempt.requested_by_label))
        if attempt.accepted_at:
            # What happened then, whatever the attempt became later (a bounce makes it failed).
            taken = "simulated" if attempt.status == DeliveryAttempt.Status.SIMULATED else "accepted"
            rows.append((attempt.accepted_at, send, taken, attempt.provider_message_id, "provider"))
        if attempt.failed_at:
            rows.append((attempt.failed_at, send, "failed", attempt.error_message, "provider"))
        elif attempt.status in (DeliveryAttempt.Status.RETRYING, DeliveryAttempt.Status.CANCELED):
            rows.append((attempt.updated_at, send, attempt.status, attempt.error_message, ""))
        for event in attempt.provider_events.all():
            rows.append((event_at(event), send, event_type(event), event.description, event.provider))
    return rows
