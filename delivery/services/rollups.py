"""The delivery health rollups kept in step with the attempts.

Each refresh recomputes, whole, every hour that holds an attempt changed since the last refresh began
(less DELIVERY_STATS_OVERLAP_SECONDS, for transactions that were still open then): its rows are
deleted and written again from the attempts, in one transaction under the cursor's row lock. An hour
is never added to, only replaced, so a refresh run twice, or two at once, cannot count anything twice.
"""

import logging
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, DurationField, ExpressionWrapper, F
from django.db.models.functions import TruncHour
from django.utils import timezone

from delivery.health import ACCEPTED_STATUSES, FAILING_STATUSES, OUTCOME_FILTERS, OUTCOMES, latency_bucket
from delivery.models import DeliveryAttempt, DeliveryFailureStat, DeliveryLatencyStat, DeliveryStat, DeliveryStatsCursor

logger = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
# The longest period a figure covers is 30 days: older hours are never read, so never recomputed.
KEPT_DAYS = 31
READ_REFRESH_MAX_HOURS = 3
MILLISECOND = timedelta(milliseconds=1)


@dataclass
class RefreshResult:
    hours: int = 0
    attempts: int = 0
    seconds: float = 0.0
    skipped: bool = False  # another refresh held the lock, or the figures were fresh enough


def delivery_stats_refresh(
    *, full: bool = False, max_age_seconds: float | None = None, max_hours: int | None = None
) -> RefreshResult:
    """Bring the rollups up to date with the attempts of the last KEPT_DAYS days (no figure reads
    further back).

    ``full`` recomputes every such hour that holds an attempt. ``max_age_seconds``: only when the
    last refresh began longer ago than that, and not while another refresh runs (it is up to date
    enough when that one ends); without it, wait for a running refresh and then refresh.
    ``max_hours``: leave it to the periodic job when more hours than that changed (a first build, or
    a scheduler that was down), so a read never takes on a long recompute.
    """
    began = time.monotonic()
    if not DeliveryStatsCursor.objects.filter(pk=1).exists():
        try:
            DeliveryStatsCursor.objects.create(pk=1)
        except IntegrityError:
            pass  # made by another refresh just now
    now = timezone.now()
    with transaction.atomic():
        lock = DeliveryStatsCursor.objects.select_for_update(skip_locked=max_age_seconds is not None)
        cursor = lock.filter(pk=1).first()
        fresh = (
            cursor is not None
            and max_age_seconds is not None
            and cursor.refreshed_at is not None
            and (now - cursor.refreshed_at).total_seconds() <= max_age_seconds
        )
        if cursor is None or fresh:
            return RefreshResult(skipped=True)
        hours = _changed_hours(since=None if full or cursor.refreshed_at is None else cursor.refreshed_at, now=now)
        if max_hours is not None and len(hours) > max_hours:
            logger.info("Delivery stats: %s hours changed; left to the periodic job", len(hours))
            return RefreshResult(skipped=True)
        result = RefreshResult(hours=len(hours))
        for hour in sorted(hours):
            result.attempts += _recompute_hour(hour)
        cursor.refreshed_at = now
        cursor.save(update_fields=["refreshed_at"])
    result.seconds = time.monotonic() - began
    if result.hours:
        logger.info("Delivery stats: %s hour(s) recomputed from %s attempts", result.hours, result.attempts)
    return result


def delivery_stats_refresh_if_stale() -> RefreshResult:
    """Before a read: refresh only when the periodic job has not run for two of its intervals, so a
    read never waits on a refresh the job will make. Where a scheduler runs (REDIS_URL), a read
    recomputes at most READ_REFRESH_MAX_HOURS hours (about a second at a million sends a day); on the
    embedded default, with no scheduler and little data, whatever changed."""
    return delivery_stats_refresh(
        max_age_seconds=2 * settings.DELIVERY_STATS_INTERVAL_SECONDS,
        max_hours=READ_REFRESH_MAX_HOURS if settings.REDIS_URL else None,
    )


def _changed_hours(*, since: datetime | None, now: datetime) -> set[datetime]:
    attempts = DeliveryAttempt.objects.filter(created_at__gte=now - timedelta(days=KEPT_DAYS))
    if since is not None:
        attempts = attempts.filter(updated_at__gte=since - timedelta(seconds=settings.DELIVERY_STATS_OVERLAP_SECONDS))
    hours = attempts.annotate(hour=TruncHour("created_at", tzinfo=UTC)).values_list("hour", flat=True).distinct()
    return set(hours.order_by())


def _recompute_hour(hour: datetime) -> int:
    """Replace one hour's rows with the counts of the attempts queued in it; how many it counted."""
    attempts = DeliveryAttempt.objects.filter(created_at__gte=hour, created_at__lt=hour + HOUR).order_by()
    tenant = ("invitation__organization_id", "livemode")
    outcomes = {outcome: Count("pk", filter=OUTCOME_FILTERS[outcome]) for outcome in OUTCOMES}
    counts = list(attempts.values(*tenant, "channel", "provider").annotate(**outcomes))
    reasons = attempts.filter(status__in=FAILING_STATUSES).values(*tenant, "failure_reason").annotate(n=Count("pk"))
    latencies: Counter = Counter()
    timed = attempts.filter(status__in=ACCEPTED_STATUSES, accepted_at__isnull=False).annotate(
        to_accepted=ExpressionWrapper(F("accepted_at") - F("created_at"), output_field=DurationField()),
        to_delivered=ExpressionWrapper(F("delivered_at") - F("accepted_at"), output_field=DurationField()),
    )
    for organization_id, livemode, to_accepted, to_delivered in timed.values_list(
        *tenant, "to_accepted", "to_delivered"
    ).iterator(chunk_size=5000):
        key = (organization_id, livemode)
        latencies[(*key, DeliveryLatencyStat.Measure.ACCEPTED, latency_bucket(to_accepted / MILLISECOND))] += 1
        if to_delivered is not None:
            latencies[(*key, DeliveryLatencyStat.Measure.DELIVERED, latency_bucket(to_delivered / MILLISECOND))] += 1
    for model in (DeliveryStat, DeliveryLatencyStat, DeliveryFailureStat):
        model.objects.filter(hour=hour).delete()
    DeliveryStat.objects.bulk_create(
        (
            DeliveryStat(
                hour=hour,
                organization_id=row["invitation__organization_id"],
                livemode=row["livemode"],
                channel=row["channel"],
                provider=row["provider"],
                **{outcome: row[outcome] for outcome in OUTCOMES},
            )
            for row in counts
            if any(row[outcome] for outcome in OUTCOMES)
        ),
        batch_size=1000,
    )
    DeliveryLatencyStat.objects.bulk_create(
        (
            DeliveryLatencyStat(
                hour=hour, organization_id=organization_id, livemode=livemode, measure=measure, le_ms=le_ms, count=n
            )
            for (organization_id, livemode, measure, le_ms), n in latencies.items()
        ),
        batch_size=1000,
    )
    DeliveryFailureStat.objects.bulk_create(
        (
            DeliveryFailureStat(
                hour=hour,
                organization_id=row["invitation__organization_id"],
                livemode=row["livemode"],
                reason=row["failure_reason"],
                count=row["n"],
            )
            for row in reasons
        ),
        batch_size=1000,
    )
    return sum(sum(row[outcome] for outcome in OUTCOMES) for row in counts)
