"""Endpoints and their secrets, redelivery and recovery, and the periodic upkeep of the outbox."""

import base64
import secrets
import time
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import AccountEvent, Organization
from accounts.principals import Actor
from accounts.services import account_event_record
from api.errors import ValidationFailed
from webhooks import guard
from webhooks.dispatch import schedule_dispatch
from webhooks.events import SUBSCRIBABLE_EVENT_TYPES, TEST_EVENT, NewEvent, subscribed, webhook_events_emit
from webhooks.models import Endpoint, EndpointSecret, Event, WebhookDelivery
from webhooks.slots import claim_stale_after

SECRET_OVERLAP = timedelta(hours=24)
MAX_EVENT_TYPES = 50


def _new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


# The address check when an endpoint is saved runs on the request's thread: a short deadline.
SAVE_LOOKUP_SECONDS = 3


def _checked_url(url: str) -> str:
    try:
        guard.resolve(url, deadline=time.monotonic() + SAVE_LOOKUP_SECONDS)
    except guard.AddressNotAllowed as exc:
        raise ValidationFailed(fields={"url": [str(exc)]}) from exc
    except guard.DeadlineExceeded as exc:
        message = f"The host could not be looked up within {SAVE_LOOKUP_SECONDS} s; try again."
        raise ValidationFailed(fields={"url": [message]}) from exc
    return url


def _checked_events(events: list[str]) -> str:
    if not events or len(events) > MAX_EVENT_TYPES:
        raise ValidationFailed(fields={"events": [f"Give 1 to {MAX_EVENT_TYPES} event types, or ['*']."]})
    unknown = sorted(set(events) - {*SUBSCRIBABLE_EVENT_TYPES, "*"})
    if unknown:
        raise ValidationFailed(fields={"events": [f"Unknown event types: {', '.join(unknown)}."]})
    return "," + ",".join(dict.fromkeys(events)) + ","


def webhook_endpoint_create(
    *, organization: Organization, livemode: bool, url: str, events: list[str] | None = None, description: str = ""
) -> tuple[Endpoint, str]:
    """A new endpoint and its signing secret, which is returned here once (and on rotation)."""
    endpoint = Endpoint(
        organization=organization,
        livemode=livemode,
        url=_checked_url(url),
        event_types=_checked_events(events or ["*"]),
        description=description,
    )
    secret = _new_secret()
    with transaction.atomic():
        # Lock the organization: two creates at once must not both pass the count below.
        Organization.objects.select_for_update().filter(pk=organization.pk).first()
        limit = settings.WEBHOOK_MAX_ENDPOINTS
        if Endpoint.objects.filter(organization=organization, livemode=livemode).count() >= limit:
            mode = "live" if livemode else "sandbox"
            raise ValidationFailed(
                f"An organization can have at most {limit} webhook endpoints in {mode} mode; delete one first.",
                fields={"url": [f"This organization already has {limit} {mode} endpoints, the most it can have."]},
            )
        endpoint.save()
        EndpointSecret.objects.create(endpoint=endpoint, secret=secret)
    return endpoint, secret


def webhook_endpoint_update(
    *,
    endpoint: Endpoint,
    url: str | None = None,
    events: list[str] | None = None,
    description: str | None = None,
    enabled: bool | None = None,
    disabled_reason: str = "",
) -> Endpoint:
    if url is not None:
        endpoint.url = _checked_url(url)
    if events is not None:
        endpoint.event_types = _checked_events(events)
    if description is not None:
        endpoint.description = description
    if enabled is not None:
        endpoint.enabled = enabled
        # Turned on again by hand, its failures so far no longer count; turned off, it says why.
        endpoint.disabled_reason = "" if enabled else disabled_reason
        if enabled:
            endpoint.failing_since = None
    endpoint.save()
    if enabled:
        transaction.on_commit(schedule_dispatch)
    return endpoint


def webhook_endpoint_delete(*, endpoint: Endpoint, actor: Actor) -> None:
    """Delete the endpoint, its secrets and its deliveries not yet made, audited in the
    organization's account events (its id and host: a URL's path or query may hold a credential)."""
    with transaction.atomic():
        endpoint_id, host = endpoint.public_id, urlsplit(endpoint.url).hostname or ""
        endpoint.delete()
        account_event_record(
            organization=endpoint.organization,
            action=AccountEvent.Action.WEBHOOK_ENDPOINT_DELETED,
            target=endpoint_id,
            detail=f"{'live' if endpoint.livemode else 'sandbox'} endpoint at {host}"[:200],
            actor=actor,
        )


def webhook_endpoint_rotate_secret(*, endpoint: Endpoint, now: datetime | None = None) -> str:
    """A new secret; the ones before it keep signing beside it for 24 hours."""
    now = now or timezone.now()
    secret = _new_secret()
    with transaction.atomic():
        EndpointSecret.objects.filter(endpoint=endpoint, expires_at__isnull=True).update(
            expires_at=now + SECRET_OVERLAP
        )
        EndpointSecret.objects.create(endpoint=endpoint, secret=secret)
    return secret


def webhook_endpoint_test(*, endpoint: Endpoint) -> Event:
    """A webhook.test event sent to this endpoint alone, now."""
    with transaction.atomic():
        event = Event.objects.create(
            organization=endpoint.organization,
            livemode=endpoint.livemode,
            type=TEST_EVENT,
            data={"endpoint": endpoint.public_id, "message": "A test of this endpoint."},
            created_at=timezone.now(),
        )
        WebhookDelivery.objects.create(event=event, endpoint=endpoint)
        transaction.on_commit(schedule_dispatch)
    return event


def _send_again(deliveries) -> int:
    """Put deliveries back in the outbox, whatever they became, with the same event id."""
    count = deliveries.update(
        status=WebhookDelivery.Status.PENDING, next_attempt_at=None, claimed_at=None, updated_at=timezone.now()
    )
    if count:
        transaction.on_commit(schedule_dispatch)
    return count


def webhook_event_redeliver(*, event: Event, endpoint: Endpoint | None = None) -> int:
    """Send an event again, to one endpoint or to every enabled endpoint subscribed to it now."""
    with transaction.atomic():
        if endpoint is not None:
            targets = [endpoint]
        else:
            targets = list(
                Endpoint.objects.filter(
                    subscribed(event.type), organization_id=event.organization_id, livemode=event.livemode, enabled=True
                )
            )
        for target in targets:
            WebhookDelivery.objects.get_or_create(event=event, endpoint=target)
        return _send_again(WebhookDelivery.objects.filter(event=event, endpoint__in=targets))


def webhook_endpoint_recover(*, endpoint: Endpoint, since: datetime) -> int:
    """Send again every delivery to this endpoint that failed for good since ``since``."""
    with transaction.atomic():
        return _send_again(
            WebhookDelivery.objects.filter(
                endpoint=endpoint, status=WebhookDelivery.Status.FAILED, created_at__gte=since
            )
        )


def webhook_emit(*, organization_id: int, livemode: bool, type: str, subject: str, data: dict) -> str:
    """One event, in the caller's transaction (see ``webhook_events_emit``); its id."""
    return webhook_events_emit(
        events=[NewEvent(organization_id=organization_id, livemode=livemode, type=type, subject=subject, data=data)]
    )[0]


def webhook_outbox_sweep(*, now: datetime | None = None) -> dict:
    """The periodic upkeep: release claims of dispatchers that died, dispatch what is due (Redis may
    have been down at commit), forget events past WEBHOOK_EVENT_RETENTION_DAYS."""
    now = now or timezone.now()
    released = WebhookDelivery.objects.filter(
        status__in=(WebhookDelivery.Status.PENDING, WebhookDelivery.Status.RETRYING),
        claimed_at__lt=now - claim_stale_after(),
    ).update(claimed_at=None)
    due = WebhookDelivery.objects.filter(
        status__in=(WebhookDelivery.Status.PENDING, WebhookDelivery.Status.RETRYING), next_attempt_at__lte=now
    ).exists() or (
        WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING, next_attempt_at__isnull=True).exists()
    )
    if due:
        schedule_dispatch()
    deleted, _ = Event.objects.filter(
        created_at__lt=now - timedelta(days=settings.WEBHOOK_EVENT_RETENTION_DAYS)
    ).delete()
    return {"released": released, "dispatched": due, "deleted": deleted}
