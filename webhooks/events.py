"""Emitting events: written in the caller's transaction with their fan-out to every subscribed
endpoint, the dispatch scheduled after commit. The apps above register the event types they emit;
webhooks itself knows only names and JSON."""

from dataclasses import dataclass
from datetime import datetime

from django.db import router, transaction
from django.db.models import Q
from django.utils import timezone

from webhooks.dispatch import schedule_dispatch
from webhooks.models import Endpoint, Event, WebhookDelivery, new_event_id

TEST_EVENT = "webhook.test"
SUBSCRIBABLE_EVENT_TYPES: list[str] = [TEST_EVENT]
# Each event type's `data`, as the dotted path of the serializer that describes it (OpenAPI).
EVENT_DATA: dict[str, str] = {TEST_EVENT: "webhooks.serializers.TestEventDataSerializer"}


def register_event_types(types: list[str], *, data: str) -> None:
    """Called by an app at start-up for the event types it emits (endpoints subscribe to these) and
    the serializer, by dotted path, that describes their ``data``."""
    SUBSCRIBABLE_EVENT_TYPES.extend(name for name in types if name not in SUBSCRIBABLE_EVENT_TYPES)
    EVENT_DATA.update(dict.fromkeys(types, data))


@dataclass(frozen=True)
class NewEvent:
    organization_id: int
    livemode: bool
    type: str
    data: dict
    subject: str = ""


def subscribed(event_type: str) -> Q:
    return Q(event_types__contains=",*,") | Q(event_types__contains=f",{event_type},")


def _subscribes(endpoint: Endpoint, event_type: str) -> bool:
    return ",*," in endpoint.event_types or f",{event_type}," in endpoint.event_types


def webhook_events_emit(*, events: list[NewEvent], now: datetime | None = None) -> list[str]:
    """Write the events and one pending delivery for each enabled endpoint of their organization and
    mode that subscribes to their type, in the caller's transaction; dispatch them after commit.

    Returns the new events' ids. Three statements however many events: the events' INSERT, one
    SELECT of the endpoints of every tenant and mode among them, the deliveries' INSERT.
    """
    if not events:
        return []
    now = now or timezone.now()
    created = Event.objects.bulk_create(
        [
            Event(
                public_id=new_event_id(),
                organization_id=event.organization_id,
                livemode=event.livemode,
                type=event.type,
                subject=event.subject,
                data=event.data,
                created_at=now,
            )
            for event in events
        ]
    )
    tenants = Q()
    for organization_id, livemode in {(event.organization_id, event.livemode) for event in events}:
        tenants |= Q(organization_id=organization_id, livemode=livemode)
    endpoints = list(
        Endpoint.objects.filter(tenants, enabled=True).only("id", "organization_id", "livemode", "event_types")
    )
    deliveries = [
        WebhookDelivery(event=event, endpoint=endpoint)
        for event in created
        for endpoint in endpoints
        if (endpoint.organization_id, endpoint.livemode) == (event.organization_id, event.livemode)
        and _subscribes(endpoint, event.type)
    ]
    if deliveries:
        WebhookDelivery.objects.bulk_create(deliveries)
        transaction.on_commit(schedule_dispatch, using=router.db_for_write(Event))
    return [event.public_id for event in created]
