from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, connections, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Q
from django.utils import timezone

from accounts.models import Organization
from billing.models import BillingEvent, EventType, Price

CHANNEL_EVENT_TYPES = {"email": EventType.SEND_EMAIL, "sms": EventType.SEND_SMS}


def price_for(*, organization: Organization, event_type: str) -> tuple[Decimal, str]:
    """The organization's own price for the event type, else the default row, else the setting."""
    own_or_default = Q(organization=organization) | Q(organization__isnull=True)
    candidates = Price.objects.filter(own_or_default, event_type=event_type)
    prices = {p.organization_id: p for p in candidates}
    price = prices.get(organization.pk) or prices.get(None)
    if price is not None:
        return price.amount, price.currency
    amount, currency = settings.BILLING_DEFAULT_PRICES[event_type]
    return Decimal(amount), currency


def billing_event_record_send(
    *, organization: Organization, channel: str, livemode: bool, source_id: str, reference: str = ""
) -> BillingEvent | None:
    """Bill one accepted send once. Sandbox sends are never billed; a repeated source is a no-op."""
    if not livemode:
        return None
    fields = {
        "organization": organization,
        "event_type": CHANNEL_EVENT_TYPES[channel],
        "source_id": source_id,
        "reference": reference,
        "created_at": timezone.now(),
    }
    connection = connections[router.db_for_write(BillingEvent)]
    if connection.vendor == "postgresql":
        # Every accepted live send comes through here: one statement instead of a price SELECT and
        # a savepoint-guarded INSERT.
        inserted = _insert_at_price_postgresql(connection, **fields)
        if inserted is None:
            return BillingEvent.objects.get(source_id=source_id)
        pk, amount, currency = inserted
        event = BillingEvent(pk=pk, amount=amount, currency=currency, **fields)
        event._state.adding = False
        event._state.db = connection.alias
        return event
    amount, currency = price_for(organization=organization, event_type=fields["event_type"])
    try:
        with transaction.atomic():
            return BillingEvent.objects.create(amount=amount, currency=currency, **fields)
    except IntegrityError:
        return BillingEvent.objects.get(source_id=source_id)


def _insert_at_price_postgresql(
    connection: BaseDatabaseWrapper,
    *,
    organization: Organization,
    event_type: str,
    source_id: str,
    reference: str,
    created_at: datetime,
) -> tuple[int, Decimal, str] | None:
    """INSERT the event at the price ``price_for`` would choose (the organization's own row, else
    the default row, else the setting), in one statement; its id, amount and currency. None when the
    source was already billed: ON CONFLICT DO NOTHING on the unique source_id, which also waits for a
    concurrent insert of the same source to commit and then yields to it."""
    default_amount, default_currency = settings.BILLING_DEFAULT_PRICES[event_type]
    qn = connection.ops.quote_name
    event_meta, price_meta = BillingEvent._meta, Price._meta

    def column(meta, name: str) -> str:
        return qn(meta.get_field(name).column)

    inserted = ["organization", "event_type", "source_id", "reference", "amount", "currency", "created_at"]
    sql = f"""
        INSERT INTO {qn(event_meta.db_table)} ({", ".join(column(event_meta, name) for name in inserted)})
        SELECT %s, %s, %s, %s, price.amount, price.currency, %s
        FROM (
            SELECT {column(price_meta, "amount")} AS amount, {column(price_meta, "currency")} AS currency,
                   CASE WHEN {column(price_meta, "organization")} IS NULL THEN 1 ELSE 0 END AS rank
            FROM {qn(price_meta.db_table)}
            WHERE {column(price_meta, "event_type")} = %s
              AND ({column(price_meta, "organization")} = %s OR {column(price_meta, "organization")} IS NULL)
            UNION ALL
            SELECT %s::numeric, %s, 2
        ) AS price
        ORDER BY price.rank
        LIMIT 1
        ON CONFLICT ({column(event_meta, "source_id")}) DO NOTHING
        RETURNING {column(event_meta, "id")}, {column(event_meta, "amount")}, {column(event_meta, "currency")}
    """
    params = [
        *(organization.pk, event_type, source_id, reference, created_at),
        *(event_type, organization.pk),
        *(Decimal(default_amount), default_currency),
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()
