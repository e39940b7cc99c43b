from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
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
    event_type = CHANNEL_EVENT_TYPES[channel]
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
                created_at=timezone.now(),
            )
    except IntegrityError:
        return BillingEvent.objects.get(source_id=source_id)
