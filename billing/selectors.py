"""Prices as they apply to an organization, and its usage per event type and period."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db.models import Case, Count, IntegerField, Q, QuerySet, Sum, Value, When

from accounts.models import Organization
from billing.models import BillingEvent, EventType, Price


def price_rows(*, organization: Organization, event_type: str) -> QuerySet:
    """The price rows that apply, best first (``rank``): the organization's own, then the default row.

    The one statement of a price's precedence: ``price_for`` reads it, and billing inserts an event at
    its first row inside the same INSERT. Without either row the setting's default price applies.
    """
    return (
        Price.objects.filter(Q(organization=organization) | Q(organization__isnull=True), event_type=event_type)
        .annotate(
            rank=Case(When(organization__isnull=True, then=Value(1)), default=Value(0), output_field=IntegerField())
        )
        .values_list("amount", "currency", "rank")
    )


def default_price(event_type: str) -> tuple[Decimal, str]:
    amount, currency = settings.BILLING_DEFAULT_PRICES[event_type]
    return Decimal(amount), currency


def price_for(*, organization: Organization, event_type: str) -> tuple[Decimal, str]:
    """The organization's own price for the event type, else the default row, else the setting."""
    row = price_rows(organization=organization, event_type=event_type).order_by("rank").first()
    return (row[0], row[1]) if row is not None else default_price(event_type)


@dataclass(frozen=True)
class UsageLine:
    event_type: str
    currency: str
    count: int
    amount: Decimal


def billing_usage(*, organization: Organization, livemode: bool, start: datetime, end: datetime) -> list[UsageLine]:
    """Counts and amounts per event type (and currency) of the organization's events in [start, end).

    Every event type appears, with zero when nothing was billed, in the currency of its current
    price. Sandbox use is never billed, so in sandbox mode every line is zero.
    """
    rows = []
    if livemode:
        rows = list(
            BillingEvent.objects.filter(organization=organization, created_at__gte=start, created_at__lt=end)
            .values("event_type", "currency")
            .annotate(count=Count("id"), amount=Sum("amount"))
            .order_by("event_type", "currency")
        )
    lines = [UsageLine(row["event_type"], row["currency"], row["count"], row["amount"]) for row in rows]
    seen = {line.event_type for line in lines}
    for event_type in EventType.values:
        if event_type not in seen:
            _, currency = price_for(organization=organization, event_type=event_type)
            lines.append(UsageLine(event_type, currency, 0, Decimal("0")))
    return sorted(lines, key=lambda line: (line.event_type, line.currency))


def usage_totals(lines: list[UsageLine]) -> list[UsageLine]:
    """The lines added up per currency (event_type is "total")."""
    totals: dict[str, tuple[int, Decimal]] = {}
    for line in lines:
        count, amount = totals.get(line.currency, (0, Decimal("0")))
        totals[line.currency] = (count + line.count, amount + line.amount)
    return [UsageLine("total", currency, count, amount) for currency, (count, amount) in sorted(totals.items())]
