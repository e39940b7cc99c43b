"""Reads of the outbox."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Prefetch, Q, QuerySet

from delivery.models import DeliveryAttempt, ProviderEvent


def _stuck(*, now: datetime, older_than: timedelta, untouched_since: datetime | None = None) -> Q:
    before = now - older_than
    lost_before = now - max(older_than, timedelta(seconds=settings.DELIVERY_SENDING_TIMEOUT_SECONDS))
    untouched = Q(updated_at__lt=untouched_since) if untouched_since is not None else Q()
    # Each branch on its own, the untouched bound in each: every one is a range of the (status, updated_at) index.
    return (
        Q(untouched, status=DeliveryAttempt.Status.QUEUED, created_at__lt=before)
        | Q(untouched, Q(retry_at__lt=before) | Q(retry_at__isnull=True), status=DeliveryAttempt.Status.RETRYING)
        | Q(untouched, status=DeliveryAttempt.Status.SENDING, claimed_at__lt=lost_before)
    )


def delivery_attempts_stuck(*, now: datetime, older_than: timedelta) -> QuerySet[DeliveryAttempt]:
    """The one definition of a stuck attempt: one that should have moved ``older_than`` ago and has
    not. Queued since then (its job lost), retrying with its retry due since then (or never
    scheduled), or sending since then and past DELIVERY_SENDING_TIMEOUT_SECONDS (its worker gone).
    ``outbox_status`` counts these; the sweeper enqueues them again (``delivery_attempts_stale``)."""
    return DeliveryAttempt.objects.filter(_stuck(now=now, older_than=older_than))


def delivery_attempts_stale(*, now: datetime) -> QuerySet[DeliveryAttempt]:
    """What the sweeper enqueues again: attempts stuck for DELIVERY_SWEEP_GRACE_SECONDS that it has
    not touched within that time either (it touches those it enqueues), oldest first."""
    grace = timedelta(seconds=settings.DELIVERY_SWEEP_GRACE_SECONDS)
    return DeliveryAttempt.objects.filter(_stuck(now=now, older_than=grace, untouched_since=now - grace)).order_by(
        "updated_at", "id"
    )


def delivery_attempts_by_status() -> dict[str, int]:
    return dict(DeliveryAttempt.objects.values_list("status").annotate(count=Count("id")).order_by())


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
        DeliveryAttempt.objects.filter(status__in=(DeliveryAttempt.Status.QUEUED, DeliveryAttempt.Status.RETRYING))
        .order_by("created_at")
        .values_list("created_at", flat=True)
        .first()
    )


def delivery_retries_due(*, invitation_ids) -> dict[int, datetime]:
    """When each of these invitations' send is tried again, for those with a retry ahead (a failed
    invitation without one has failed for good)."""
    rows = DeliveryAttempt.objects.filter(
        invitation_id__in=invitation_ids, status=DeliveryAttempt.Status.RETRYING
    ).values_list("invitation_id", "retry_at")
    return {invitation_id: retry_at for invitation_id, retry_at in rows if retry_at is not None}
