from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, connections, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field
from django.utils import timezone

from accounts.models import Organization
from billing.models import BillingEvent, EventType
from billing.selectors import default_price, price_for, price_rows

CHANNEL_EVENT_TYPES = {"email": EventType.SEND_EMAIL, "sms": EventType.SEND_SMS}


def billing_event_record_send(
    *, organization: Organization, channel: str, livemode: bool, source_id: str, reference: str = ""
) -> BillingEvent | None:
    """Bill one accepted send once, at ``price_for``'s price. Sandbox sends are never billed; a
    repeated source is a no-op."""
    if not livemode:
        return None
    event_type = CHANNEL_EVENT_TYPES[channel]
    created_at = timezone.now()
    connection = connections[router.db_for_write(BillingEvent)]
    if connection.vendor == "postgresql":
        # Every accepted live send comes through here: one statement instead of a price SELECT and
        # a savepoint-guarded INSERT, choosing the price by the same rows price_for reads.
        inserted = _insert_at_price_postgresql(
            connection,
            organization=organization,
            event_type=event_type,
            source_id=source_id,
            reference=reference,
            created_at=created_at,
        )
        if inserted is None:
            return BillingEvent.objects.get(source_id=source_id)
        pk, amount, currency = inserted
        # The row as the database holds it now, as a query would have loaded it.
        row = {
            "id": pk,
            "organization_id": organization.pk,
            "event_type": event_type,
            "source_id": source_id,
            "reference": reference,
            "amount": amount,
            "currency": currency,
            "created_at": created_at,
        }
        event = BillingEvent.from_db(connection.alias, list(row), list(row.values()))
        event.organization = organization
        return event
    amount, currency = price_for(organization=organization, event_type=event_type)
    try:
        with transaction.atomic():
            return BillingEvent.objects.create(
                organization=organization,
                event_type=event_type,
                source_id=source_id,
                reference=reference,
                amount=amount,
                currency=currency,
                created_at=created_at,
            )
    except IntegrityError:
        return BillingEvent.objects.get(source_id=source_id)


@dataclass(frozen=True)
class SendToBill:
    organization: Organization
    channel: str
    livemode: bool
    source_id: str
    reference: str = ""


def billing_events_record_sends(*, sends: list[SendToBill]) -> int:
    """``billing_event_record_send`` for many accepted sends (a delivery batch): for each organization
    and channel, its price read once and its events in one INSERT; sandbox sends skipped, a source
    already billed left as it was. Returns how many were billed now."""
    groups: dict[tuple[int, str], list[SendToBill]] = defaultdict(list)
    for send in sends:
        if send.livemode:
            groups[(send.organization.pk, CHANNEL_EVENT_TYPES[send.channel])].append(send)
    created_at = timezone.now()
    billed = 0
    for (_organization_id, event_type), group in groups.items():
        amount, currency = price_for(organization=group[0].organization, event_type=event_type)
        events = BillingEvent.objects.bulk_create(
            [
                BillingEvent(
                    organization=send.organization,
                    event_type=event_type,
                    source_id=send.source_id,
                    reference=send.reference,
                    amount=amount,
                    currency=currency,
                    created_at=created_at,
                )
                for send in group
            ],
            ignore_conflicts=True,
        )
        billed += len(events)
    return billed


def _insert_at_price_postgresql(
    connection: BaseDatabaseWrapper,
    *,
    organization: Organization,
    event_type: str,
    source_id: str,
    reference: str,
    created_at: datetime,
) -> tuple[int, Decimal, str] | None:
    """INSERT the event at the first of ``price_rows`` (else the default price), in one statement;
    its id, amount and currency. None when the source was already billed: ON CONFLICT DO NOTHING on
    the unique source_id, which also waits for a concurrent insert of the same source to commit and
    then yields to it."""
    default_amount, default_currency = default_price(event_type)
    rows = price_rows(organization=organization, event_type=event_type).order_by()  # ranked below, not here
    rows_sql, rows_params = rows.query.sql_with_params()
    qn = connection.ops.quote_name
    meta = BillingEvent._meta

    def column(name: str) -> str:
        field = meta.get_field(name)
        assert isinstance(field, Field)
        return qn(field.column)

    inserted = ["organization", "event_type", "source_id", "reference", "amount", "currency", "created_at"]
    sql = f"""
        INSERT INTO {qn(meta.db_table)} ({", ".join(column(name) for name in inserted)})
        SELECT %s, %s, %s, %s, price.amount, price.currency, %s
        FROM ({rows_sql} UNION ALL SELECT %s::numeric, %s, 2) AS price (amount, currency, rank)
        ORDER BY price.rank
        LIMIT 1
        ON CONFLICT ({column("source_id")}) DO NOTHING
        RETURNING {column("id")}, {column("amount")}, {column("currency")}
    """
    params = [
        *(organization.pk, event_type, source_id, reference, created_at),
        *rows_params,
        *(default_amount, default_currency),
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()
