"""Reads of the outbox."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Prefetch, Q, QuerySet

from delivery.models import DeliveryAttempt, ProviderEvent

A = DeliveryAttempt.Status


def delivery_attempts_stale(*, now: datetime) -> QuerySet[DeliveryAttempt]:
    """Attempts whose job Redis no longer holds, or whose worker is gone, oldest first."""
    grace = now - timedelta(seconds=settings.DELIVERY_SWEEP_GRACE_SECONDS)
    lost_before = now - timedelta(seconds=settings.DELIVERY_SENDING_TIMEOUT_SECONDS)
    return DeliveryAttempt.objects.filter(
        Q(status=A.QUEUED, updated_at__lt=grace)
        | Q(Q(retry_at__lt=grace) | Q(retry_at__isnull=True), status=A.RETRYING, updated_at__lt=grace)
        | Q(status=A.SENDING, claimed_at__lt=lost_before, updated_at__lt=grace)
    ).order_by("updated_at", "id")


def delivery_attempts_by_status() -> dict[str, int]:
    return dict(DeliveryAttempt.objects.values_list("status").annotate(count=Count("id")).order_by())


def delivery_attempts_stuck(*, now: datetime, older_than: timedelta) -> QuerySet[DeliveryAttempt]:
    """Attempts that should have moved by now: queued, or retrying and overdue, or sending, for longer
    than ``older_than``."""
    before = now - older_than
    return DeliveryAttempt.objects.filter(
        Q(status=A.QUEUED, created_at__lt=before)
        | Q(status=A.RETRYING, retry_at__lt=before)
        | Q(status=A.SENDING, claimed_at__lt=before)
    )


def delivery_attempts_for(*, invitation_id: int) -> list[DeliveryAttempt]:
    """Every attempt of an invitation, oldest first, each with its provider events (oldest first)."""
    events = ProviderEvent.objects.exclude(outcome=ProviderEvent.Outcome.UNMATCHED).order_by("received_at", "id")
    return list(
        DeliveryAttempt.objects.filter(invitation_id=invitation_id)
        .order_by("number", "id")
        .prefetch_related(Prefetch("provider_events", queryset=events))
    )


def delivery_attempt_oldest_queued_at() -> datetime | None:
    """When the oldest attempt still waiting to be sent (queued, or retrying) was written."""
    return (
        DeliveryAttempt.objects.filter(status__in=(A.QUEUED, A.RETRYING))
        .order_by("created_at")
        .values_list("created_at", flat=True)
        .first()
    )
