"""Delivery health: how the sends queued in a period went, read from the hourly rollups
(delivery.services.rollups keeps them in step with the attempts). The admin's page and
GET /v1/stats both read ``delivery_health``; the page draws its numbers, never its own.

Each attempt queued in the period counts once, by how far it got (``OUTCOME_FILTERS``): failed
(never accepted), bounced (accepted, then bounced), delivered (accepted, then delivered or opened),
accepted (nothing more known yet). Attempts still queued, being sent, or canceled before they left
are not counted: they are in the outbox (``delivery_outbox_now``).
"""

import math
import re
from bisect import bisect_left
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial

from django.db.models import Count, Min, Q, Sum
from django.utils import timezone

from delivery import failover
from delivery.models import DeliveryAttempt, DeliveryFailureStat, DeliveryLatencyStat, DeliveryStat, DeliveryStatsCursor
from invitations.models import Invitation
from suppressions.models import Suppression

Status = DeliveryAttempt.Status
OUTCOMES = ("accepted", "delivered", "bounced", "failed")
# Counted once accepted (or taken by the sandbox's simulator), and once failing, retry pending or not.
ACCEPTED_STATUSES = (Status.ACCEPTED, Status.SIMULATED)
FAILING_STATUSES = (Status.FAILED, Status.RETRYING)
# How far an attempt got, by its status and times: one of these, or none while it is queued, at a
# provider, or canceled before it left (not counted).
OUTCOME_FILTERS = {
    "accepted": Q(status__in=ACCEPTED_STATUSES, delivered_at__isnull=True),
    "delivered": Q(status__in=ACCEPTED_STATUSES, delivered_at__isnull=False),
    "bounced": Q(status__in=FAILING_STATUSES, accepted_at__isnull=False),
    "failed": Q(status__in=FAILING_STATUSES, accepted_at__isnull=True),
}


# --- Failure reasons ---------------------------------------------------------------------------------

REASON_MAX = 200
_RETRIES_EXHAUSTED = re.compile(r"\s*\(retries exhausted\)\s*$")
_VARIABLE_PARTS = (
    (re.compile(r"https?://\S+"), "<url>"),
    (re.compile(r"[\w.+'-]+@[\w-]+(\.[\w-]+)+"), "<address>"),
    (re.compile(r"\+\d{6,15}\b"), "<number>"),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.IGNORECASE), "<id>"),
    (re.compile(r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{12,}\b", re.IGNORECASE), "<id>"),
    (re.compile(r"\b(SM|MM|adi_)\w{8,}\b"), "<id>"),
    (re.compile(r"\b\d{6,}\b"), "<n>"),
)
_SPACES = re.compile(r"\s+")


def failure_reason(message: str) -> str:
    """A provider's words for a failure, grouped: the same failure of many sends reads the same.

    Addresses, phone numbers, links, message ids and long numbers are replaced by a placeholder; short
    codes (406, 21211) stay, as they name the failure. "(retries exhausted)" is dropped: it says how
    often it was tried, not why it failed.
    """
    text = _RETRIES_EXHAUSTED.sub("", message or "")
    for pattern, placeholder in _VARIABLE_PARTS:
        text = pattern.sub(placeholder, text)
    text = _SPACES.sub(" ", text).strip()
    return text if len(text) <= REASON_MAX else text[: REASON_MAX - 1].rstrip() + "…"


# --- Latency buckets ---------------------------------------------------------------------------------

# Upper bounds in milliseconds, each about 10 % above the one before, from 10 ms to 8 days; a time past
# the last falls in the open bucket above it. A percentile read from them is within about 10 %.
LATENCY_BOUNDS_MS: tuple[int, ...] = tuple(
    sorted({max(10, round(10 * 1.1**step)) for step in range(0, 165) if 10 * 1.1**step <= 8 * 86_400_000})
)
OPEN_BOUND_MS = 2**62


def latency_bucket(milliseconds: float) -> int:
    """The upper bound of the bucket a duration falls in."""
    index = bisect_left(LATENCY_BOUNDS_MS, max(0.0, milliseconds))
    return LATENCY_BOUNDS_MS[index] if index < len(LATENCY_BOUNDS_MS) else OPEN_BOUND_MS


def _lower_bound(bound: int) -> int:
    """The upper bound of the bucket below this one (0 below the first)."""
    if bound == OPEN_BOUND_MS:
        return LATENCY_BOUNDS_MS[-1]
    index = bisect_left(LATENCY_BOUNDS_MS, bound)
    return LATENCY_BOUNDS_MS[index - 1] if index > 0 else 0


def percentile_ms(histogram: dict[int, int], quantile: float) -> int | None:
    """The ``quantile`` of a histogram {upper bound: count}, interpolated within its bucket."""
    total = sum(histogram.values())
    if not total:
        return None
    rank = quantile * total
    seen = 0
    for bound in sorted(histogram):
        count = histogram[bound]
        lower = _lower_bound(bound)
        if count and seen + count >= rank:
            if bound == OPEN_BOUND_MS:
                return lower
            return round(lower + (bound - lower) * (rank - seen) / count)
        seen += count
    return LATENCY_BOUNDS_MS[-1]


# --- Periods ---------------------------------------------------------------------------------------

PERIODS = {"24h": (24, timedelta(hours=1)), "7d": (7, timedelta(days=1)), "30d": (30, timedelta(days=1))}


def period_bounds(period: str, *, now: datetime) -> tuple[datetime, datetime, timedelta]:
    """[start, end) of a period and its step: the last 24 UTC hours, or the last 7 or 30 UTC days,
    each including the one under way."""
    count, step = PERIODS[period]
    now = now.astimezone(UTC)
    current = now.replace(minute=0, second=0, microsecond=0)
    if step == timedelta(days=1):
        current = current.replace(hour=0)
    return current - step * (count - 1), current + step, step


# --- The figures -----------------------------------------------------------------------------------


@dataclass
class Counts:
    accepted: int = 0
    delivered: int = 0
    bounced: int = 0
    failed: int = 0

    def add(self, row: dict) -> None:
        for outcome in OUTCOMES:
            setattr(self, outcome, getattr(self, outcome) + (row[outcome] or 0))

    @property
    def total(self) -> int:
        return self.accepted + self.delivered + self.bounced + self.failed

    @property
    def reached_provider(self) -> int:
        """Accepted by a provider, whatever happened next: the rates' denominator."""
        return self.accepted + self.delivered + self.bounced

    @property
    def delivery_rate(self) -> float | None:
        return round(self.delivered / self.reached_provider, 4) if self.reached_provider else None

    @property
    def bounce_rate(self) -> float | None:
        return round(self.bounced / self.reached_provider, 4) if self.reached_provider else None

    # As the page shows them, in its charts and its tables alike: percent, one decimal.
    @property
    def delivery_percent(self) -> float | None:
        return None if self.delivery_rate is None else round(self.delivery_rate * 100, 1)

    @property
    def bounce_percent(self) -> float | None:
        return None if self.bounce_rate is None else round(self.bounce_rate * 100, 1)


@dataclass
class Bucket(Counts):
    start: datetime = field(default_factory=timezone.now)


@dataclass
class DeliveryHealth:
    period: str
    start: datetime
    end: datetime
    step: timedelta
    buckets: list[Bucket]
    by_channel: dict[str, Counts]
    by_provider: dict[str, Counts]
    time_to_accepted: dict[str, int | None]
    time_to_delivered: dict[str, int | None]
    top_failure_reasons: list[tuple[str, int]]
    suppressions_by_reason: list[tuple[str, int]]
    refreshed_at: datetime | None

    @property
    def totals(self) -> Counts:
        totals = Counts()
        for counts in self.by_channel.values():
            totals.add(vars(counts))
        return totals


TOP_REASONS = 10
NO_PROVIDER = "none"


def _scope(model, *, organization_id: int | None, livemode: bool, start: datetime, end: datetime):
    rows = model.objects.filter(livemode=livemode, hour__gte=start, hour__lt=end)
    return rows if organization_id is None else rows.filter(organization_id=organization_id)


def delivery_health(
    *, period: str, livemode: bool, organization_id: int | None = None, now: datetime | None = None
) -> DeliveryHealth:
    """The figures for one period, one mode, and one organization (None: every organization)."""
    start, end, step = period_bounds(period, now=now or timezone.now())
    scoped = partial(_scope, organization_id=organization_id, livemode=livemode, start=start, end=end)
    buckets = {start + step * index: Bucket(start=start + step * index) for index in range(PERIODS[period][0])}
    by_channel: dict[str, Counts] = {channel: Counts() for channel in ("email", "sms")}
    by_provider: dict[str, Counts] = {}
    sums = {outcome: Sum(outcome) for outcome in OUTCOMES}
    for row in scoped(DeliveryStat).values("hour", "channel", "provider").annotate(**sums).order_by():
        hour = row["hour"].astimezone(UTC)
        bucket_start = hour if step == timedelta(hours=1) else hour.replace(hour=0)
        buckets[bucket_start].add(row)
        by_channel.setdefault(row["channel"], Counts()).add(row)
        by_provider.setdefault(row["provider"] or NO_PROVIDER, Counts()).add(row)
    histograms: dict[str, dict[int, int]] = {measure: {} for measure in DeliveryLatencyStat.Measure.values}
    latency = scoped(DeliveryLatencyStat).values("measure", "le_ms").annotate(n=Sum("count")).order_by()
    for row in latency:
        histograms[row["measure"]][row["le_ms"]] = row["n"]
    reasons = (
        scoped(DeliveryFailureStat).values("reason").annotate(n=Sum("count")).order_by("-n", "reason")[:TOP_REASONS]
    )
    suppressions = Suppression.objects.filter(livemode=livemode, created_at__gte=start, created_at__lt=end)
    if organization_id is not None:
        suppressions = suppressions.filter(organization_id=organization_id)
    cursor = DeliveryStatsCursor.objects.filter(pk=1).values_list("refreshed_at", flat=True).first()
    return DeliveryHealth(
        period=period,
        start=start,
        end=end,
        step=step,
        buckets=list(buckets.values()),
        by_channel=by_channel,
        by_provider=dict(sorted(by_provider.items())),
        time_to_accepted=_percentiles(histograms["accepted"]),
        time_to_delivered=_percentiles(histograms["delivered"]),
        top_failure_reasons=[(row["reason"], row["n"]) for row in reasons],
        suppressions_by_reason=list(
            suppressions.values_list("reason").annotate(n=Count("id")).order_by("-n", "reason")
        ),
        refreshed_at=cursor,
    )


def _percentiles(histogram: dict[int, int]) -> dict[str, int | None]:
    return {"p50": percentile_ms(histogram, 0.5), "p95": percentile_ms(histogram, 0.95)}


def failed_send_invitations(
    *, reason: str, start: datetime, end: datetime, livemode: bool | None = None, organization_id: int | None = None
):
    """The invitations behind a failure reason's count: those with a send queued in [start, end) that
    failed or bounced for ``reason`` (in one mode, and one organization, when given)."""
    attempts = DeliveryAttempt.objects.filter(
        created_at__gte=start, created_at__lt=end, status__in=FAILING_STATUSES, failure_reason=reason
    )
    if livemode is not None:
        attempts = attempts.filter(livemode=livemode)
    invitations = Invitation.objects.filter(pk__in=attempts.values("invitation_id"))
    return invitations if organization_id is None else invitations.filter(organization_id=organization_id)


# --- The outbox now ----------------------------------------------------------------------------------


@dataclass
class OutboxNow:
    queued: int
    retrying: int
    sending: int
    oldest_queued_at: datetime | None
    queue_depths: dict[str, int | None]
    resting_providers: list[tuple[str, str, int]]

    @property
    def oldest_queued_seconds(self) -> float | None:
        if self.oldest_queued_at is None:
            return None
        return max(0.0, (timezone.now() - self.oldest_queued_at).total_seconds())


def delivery_outbox_now(*, livemode: bool, organization_id: int | None = None) -> OutboxNow:
    """What waits to be sent now: queued, retrying and in-flight attempts, the oldest waiting, the
    job queues' depths, and the providers resting after failures (channel, name, seconds left)."""
    from delivery.metrics import queue_depths

    waiting = DeliveryAttempt.objects.filter(
        livemode=livemode, status__in=(Status.QUEUED, Status.RETRYING, Status.SENDING)
    )
    if organization_id is not None:
        waiting = waiting.filter(invitation__organization_id=organization_id)
    counts = dict(waiting.values_list("status").annotate(n=Count("id")).order_by())
    oldest = waiting.exclude(status=Status.SENDING).aggregate(oldest=Min("created_at"))["oldest"]
    resting = []
    now = timezone.now().timestamp()
    for channel in ("email", "sms"):
        for provider in failover.providers(channel):
            until = failover.resting_until(provider)
            if until is not None and until > now:
                resting.append((channel, provider.name, math.ceil(until - now)))
    return OutboxNow(
        queued=counts.get(Status.QUEUED, 0),
        retrying=counts.get(Status.RETRYING, 0),
        sending=counts.get(Status.SENDING, 0),
        oldest_queued_at=oldest,
        queue_depths=queue_depths(),
        resting_providers=resting,
    )
