"""Emitting events: written in the caller's transaction with their fan-out to every subscribed
endpoint, the dispatch scheduled after commit. The apps above register the event types they emit;
webhooks itself knows only names and JSON."""

import json
from dataclasses import dataclass
from datetime import datetime

from django.core.serializers.json import DjangoJSONEncoder
from django.db import router, transaction
from django.db.models import Q
from django.utils import timezone

from ops.sql import Write, pending_run
from webhooks.dispatch import schedule_dispatch
from webhooks.models import Endpoint, Event, WebhookDelivery, new_event_id

TEST_EVENT = "webhook.test"
EVENT_TYPES: list[str] = [TEST_EVENT]
# Each event type's `data`, as the dotted path of the serializer that describes it (OpenAPI).
EVENT_DATA: dict[str, str] = {TEST_EVENT: "webhooks.serializers.TestEventDataSerializer"}


def register_event_types(types: list[str], *, data: str) -> None:
    """Called by an app at start-up for the event types it emits (endpoints subscribe to these) and
    the serializer, by dotted path, that describes their ``data``."""
    EVENT_TYPES.extend(name for name in types if name not in EVENT_TYPES)
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


class EventsToEmit:
    """Events to write with their fan-out in the caller's transaction, their dispatch scheduled
    after commit (``ops.sql.Pending``): on PostgreSQL as writes another statement can carry, so a
    change and its events cost one round trip; else through the ORM."""

    def __init__(self, events: list[NewEvent], now: datetime | None = None) -> None:
        self.events = events
        self.now = now or timezone.now()
        self.ids = [new_event_id() for _ in events]

    def writes(self, connection) -> list[Write]:
        """The events' INSERT feeding the INSERT of one pending delivery for each enabled endpoint of
        their organization and mode that subscribes to their type, whatever their numbers."""
        if not self.events:
            return []
        qn = connection.ops.quote_name
        event_table, endpoint_table = qn(Event._meta.db_table), qn(Endpoint._meta.db_table)
        delivery_table = qn(WebhookDelivery._meta.db_table)
        rows = ", ".join(["(%s, %s::bigint, %s::boolean, %s, %s, %s::jsonb, %s::timestamptz)"] * len(self.events))
        params: list = []
        for event, public_id in zip(self.events, self.ids, strict=True):
            params += [public_id, event.organization_id, event.livemode, event.type, event.subject]
            params += [json.dumps(event.data, cls=DjangoJSONEncoder), self.now]
        new_event = Write(
            "new_event",
            f"INSERT INTO {event_table} (public_id, organization_id, livemode, type, subject, data, created_at) "
            f"VALUES {rows} RETURNING id, organization_id, livemode, type",
            params,
        )
        new_delivery = Write(
            "new_webhook_delivery",
            f"""INSERT INTO {delivery_table} (event_id, endpoint_id, status, tries, created_at, updated_at)
            SELECT new_event.id, endpoint.id, %s, 0, %s::timestamptz, %s::timestamptz
            FROM new_event JOIN {endpoint_table} AS endpoint
              ON endpoint.organization_id = new_event.organization_id AND endpoint.livemode = new_event.livemode
            WHERE endpoint.enabled
              AND (endpoint.event_types LIKE '%%,*,%%' OR endpoint.event_types LIKE '%%,' || new_event.type || ',%%')
            RETURNING 1""",
            [WebhookDelivery.Status.PENDING, self.now, self.now],
            returning="1",
        )
        return [new_event, new_delivery]

    def written(self, returned: dict[str, list]) -> None:
        self._delivered(len(returned.get("new_webhook_delivery", [])))

    def save(self) -> None:
        if self.events:
            self._delivered(_emit_orm(self.events, self.ids, self.now))

    def _delivered(self, count: int) -> None:
        if count:
            transaction.on_commit(schedule_dispatch, using=router.db_for_write(Event))


def webhook_events_emit(*, events: list[NewEvent], now: datetime | None = None) -> list[str]:
    """Write the events and one pending delivery for each enabled endpoint of their organization and
    mode that subscribes to their type, in the caller's transaction; dispatch them after commit.

    Returns the new events' ids. On PostgreSQL this is one statement whatever the number of events
    and endpoints (an INSERT of the events feeding the INSERT of the deliveries).
    """
    pending = EventsToEmit(events, now)
    pending_run(pending, using=router.db_for_write(Event))
    return pending.ids


def _emit_orm(events: list[NewEvent], ids: list[str], now: datetime) -> int:
    created = Event.objects.bulk_create(
        [
            Event(
                public_id=public_id,
                organization_id=e.organization_id,
                livemode=e.livemode,
                type=e.type,
                subject=e.subject,
                data=e.data,
                created_at=now,
            )
            for e, public_id in zip(events, ids, strict=True)
        ]
    )
    deliveries = []
    for event in created:
        endpoints = Endpoint.objects.filter(
            subscribed(event.type), organization_id=event.organization_id, livemode=event.livemode, enabled=True
        )
        deliveries += [WebhookDelivery(event=event, endpoint=endpoint) for endpoint in endpoints]
    WebhookDelivery.objects.bulk_create(deliveries)
    return len(deliveries)
