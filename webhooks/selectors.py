"""Reads of the webhooks API, always within one organization and mode."""

from datetime import datetime, timedelta

from django.db.models import Count, Q, QuerySet

from accounts.models import Organization
from api.errors import NotFound
from api.tokens import is_public_id
from webhooks.models import Endpoint, Event, WebhookDelivery, WebhookTry


def webhook_endpoint_get(*, organization: Organization, livemode: bool, public_id: str) -> Endpoint:
    """One endpoint of this tenant and mode; any other answers 404 like a missing one."""
    endpoint = (
        Endpoint.objects.filter(organization=organization, livemode=livemode, public_id=public_id).first()
        if is_public_id(public_id)
        else None
    )
    if endpoint is None:
        raise NotFound("No webhook endpoint with this id.")
    return endpoint


def webhook_endpoint_list(*, organization: Organization, livemode: bool) -> QuerySet[Endpoint]:
    return Endpoint.objects.filter(organization=organization, livemode=livemode).order_by("-created_at", "-id")


def webhook_event_get(*, organization: Organization, livemode: bool, public_id: str) -> Event:
    event = (
        Event.objects.filter(organization=organization, livemode=livemode, public_id=public_id).first()
        if is_public_id(public_id)
        else None
    )
    if event is None:
        raise NotFound("No event with this id.")
    return event


def webhook_event_list(*, organization: Organization, livemode: bool) -> QuerySet[Event]:
    """This organization's and mode's events, newest first (the API narrows them by ``EventFilter``)."""
    return Event.objects.filter(organization=organization, livemode=livemode).order_by("-created_at", "-id")


def webhook_endpoint_tries(*, endpoint: Endpoint) -> QuerySet[WebhookTry]:
    return WebhookTry.objects.filter(endpoint=endpoint).select_related("delivery__event").order_by("-created_at", "-id")


def webhook_deliveries_by_status() -> dict[str, int]:
    return dict(WebhookDelivery.objects.values_list("status").annotate(count=Count("id")).order_by())


def webhook_deliveries_stuck(*, now: datetime, older_than: timedelta) -> QuerySet[WebhookDelivery]:
    """Deliveries due for longer than ``older_than`` and still not settled."""
    before = now - older_than
    return WebhookDelivery.objects.filter(
        Q(status=WebhookDelivery.Status.PENDING, created_at__lt=before, next_attempt_at__isnull=True)
        | Q(status__in=(WebhookDelivery.Status.PENDING, WebhookDelivery.Status.RETRYING), next_attempt_at__lt=before)
    )
