"""Billing accepted sends: one BillingEvent per live send, at its price, once; sandbox sends never."""

from collections import defaultdict
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Organization
from billing.models import BillingEvent, EventType
from billing.selectors import price_for

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
