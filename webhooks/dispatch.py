"""Sending deliveries: the dispatcher (an rq job on the `webhooks` queue) claims due deliveries and
sends them on a pool of threads, at most WEBHOOK_ENDPOINT_CONCURRENCY at a time per endpoint across
every worker, so a slow endpoint holds back only itself. Threads only talk HTTP; the database is
read and written by the dispatcher's own thread.

PostgreSQL is the source of truth: a delivery is `pending` or `retrying` until a try settles it.
Redis down at commit delays a delivery until the sweeper's next dispatch; a dispatcher killed
mid-try leaves a claim that the sweeper releases; a 2xx is recorded before anything else happens,
and a delivery that succeeded is never claimed again unless redelivered by hand.
"""

import json
import logging
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from redis.exceptions import RedisError
from standardwebhooks import Webhook

from jobs.queueing import enqueue_now, redis_for
from ops.metrics import WEBHOOK_DELIVERIES, count_on_commit
from webhooks import guard
from webhooks.models import Endpoint, EndpointSecret, WebhookDelivery, WebhookTry
from webhooks.slots import Slots, any_tenant, claim_stale_after, tenant_of

logger = logging.getLogger(__name__)

DISPATCH_JOB = "webhooks.jobs.dispatch_webhooks"
PENDING_FLAG = "webhooks:dispatch-pending"
USER_AGENT = "invitations-webhooks/1"


def _redis():
    return None if settings.DELIVERY_INLINE else redis_for("webhooks")


def schedule_dispatch() -> None:
    """After a commit that made deliveries: a dispatcher, unless one is already waiting to start."""
    redis = _redis()
    if redis is not None:
        try:
            if not redis.set(PENDING_FLAG, "1", nx=True, ex=60):
                return
        except RedisError as exc:
            logger.warning("Could not schedule a webhook dispatch (%s); the sweeper will", exc)
            return
    enqueue_now(DISPATCH_JOB, queue_name="webhooks")


def _due(now: datetime) -> Q:
    return (
        Q(status__in=(WebhookDelivery.Status.PENDING, WebhookDelivery.Status.RETRYING), endpoint__enabled=True)
        & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        & (Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - claim_stale_after()))
    )


def _claim(*, limit: int, slots: Slots) -> list[WebhookDelivery]:
    now = timezone.now()
    claimed: list[WebhookDelivery] = []
    try:
        with transaction.atomic():
            _claim_rows(limit=limit, slots=slots, now=now, claimed=claimed)
            WebhookDelivery.objects.filter(pk__in=[d.pk for d in claimed]).update(claimed_at=now)
    except BaseException:
        # Nothing was claimed after all: the slots taken for it go back at once rather than
        # holding the endpoint's and the organization's share until their leases end.
        for delivery in claimed:
            slots.give_back(delivery)
        raise
    for delivery in claimed:
        delivery.claimed_at = now
    return claimed


def _claim_rows(*, limit: int, slots: Slots, now: datetime, claimed: list[WebhookDelivery]) -> None:
    """Due rows, locked, whose endpoint and organization have a slot free (each taken here)."""
    for _ in range(3):  # endpoints and organizations found full are left out of the next look
        # skip_locked: two dispatchers never claim the same row, nor wait on each other.
        candidates = (
            WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(_due(now))
            .exclude(pk__in=[d.pk for d in claimed])
            .exclude(endpoint_id__in=slots.endpoints_full())
            .exclude(any_tenant(slots.organizations_full()))
            .select_related("event", "endpoint")
            .order_by("next_attempt_at", "id")[: limit * 4]
        )
        rows = list(candidates)
        for delivery in rows:
            if len(claimed) >= limit:
                break
            if (
                delivery.endpoint_id not in slots.endpoints_full()
                and tenant_of(delivery) not in slots.organizations_full()
                and slots.take(delivery)
            ):
                claimed.append(delivery)
        if len(claimed) >= limit or len(rows) < limit * 4:
            return


def signed_request(delivery: WebhookDelivery, secrets: list[str]) -> tuple[bytes, dict[str, str]]:
    """The Standard Webhooks body and headers of this try: one signature per active secret."""
    event = delivery.event
    body = json.dumps(
        {
            "id": event.public_id,
            "type": event.type,
            "timestamp": event.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "livemode": event.livemode,
            "data": event.data,
        },
        separators=(",", ":"),
    ).encode()
    now = datetime.now(UTC)
    signatures = " ".join(Webhook(secret).sign(event.public_id, now, body.decode()) for secret in secrets)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": event.public_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signatures,
    }
    return body, headers


def active_secrets(endpoint_ids: set[int], now: datetime) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    rows = EndpointSecret.objects.filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=now), endpoint_id__in=endpoint_ids
    ).order_by("-created_at")
    for row in rows:
        found.setdefault(row.endpoint_id, []).append(row.secret)
    return found


def _record(delivery: WebhookDelivery, answer: guard.Answer) -> None:
    """Settle one try: succeeded, retrying after the next interval, or failed for good."""
    now = timezone.now()
    intervals = settings.WEBHOOK_RETRY_INTERVALS
    tries, next_at, status = delivery.tries + 1, None, WebhookDelivery.Status.FAILED
    if answer.succeeded:
        status = WebhookDelivery.Status.SUCCEEDED
    elif tries <= len(intervals):
        status, next_at = WebhookDelivery.Status.RETRYING, now + timedelta(seconds=intervals[tries - 1])
    with transaction.atomic():
        if not WebhookDelivery.objects.filter(pk=delivery.pk).exists():
            return  # deleted with its endpoint while the try was in flight
        WebhookTry.objects.create(
            delivery=delivery,
            endpoint_id=delivery.endpoint_id,
            number=tries,
            status=status,
            response_status=answer.status,
            response_body=answer.body,
            duration_ms=answer.duration_ms,
            error=answer.error[:500],
            next_attempt_at=next_at,
            created_at=now,
        )
        # Only under the claim this try was made with: a redelivery asked for by hand meanwhile keeps
        # the delivery pending, so it is sent again rather than settled by this older try.
        WebhookDelivery.objects.filter(pk=delivery.pk, claimed_at=delivery.claimed_at).update(
            status=status, tries=tries, next_attempt_at=next_at, claimed_at=None, updated_at=now
        )
        _endpoint_health(delivery.endpoint_id, succeeded=answer.succeeded, now=now)
        count_on_commit(WEBHOOK_DELIVERIES, outcome=status)
    if next_at is not None:
        transaction.on_commit(lambda: _schedule_retry(intervals[tries - 1]))


def _endpoint_health(endpoint_id: int, *, succeeded: bool, now: datetime) -> None:
    """An endpoint whose every try has failed for WEBHOOK_DISABLE_AFTER_DAYS is disabled."""
    endpoints = Endpoint.objects.filter(pk=endpoint_id)
    if succeeded:
        endpoints.exclude(failing_since=None).update(failing_since=None)
        return
    endpoints.filter(failing_since=None).update(failing_since=now)
    days = settings.WEBHOOK_DISABLE_AFTER_DAYS
    endpoints.filter(enabled=True, failing_since__lt=now - timedelta(days=days)).update(
        enabled=False, disabled_reason=f"Every delivery failed for {days} days.", updated_at=now
    )


def _schedule_retry(delay: float) -> None:
    """A dispatcher on rq's scheduler (whole seconds) for retries due in ``delay`` s, one a second:
    asked for SCHEDULER_LEAD_SECONDS early, it is never late and waits (``_wait_for_next_due``)."""
    if settings.DELIVERY_INLINE:
        return  # no scheduler: the sweeper dispatches retries when they are due
    redis = _redis()
    at = time.time() + max(delay, 0)
    key = f"webhooks:dispatch-at:{int(at)}"
    try:
        if redis.set(key, "1", nx=True, ex=int(delay) + 60):
            enqueue_now(DISPATCH_JOB, queue_name="webhooks", delay=max(delay - SCHEDULER_LEAD_SECONDS, 0.001))
    except RedisError as exc:
        logger.warning("Could not schedule a webhook retry (%s); the sweeper will dispatch it", exc)


SCHEDULER_LEAD_SECONDS = 1.0
SHORT_WAIT_SECONDS = 3.0  # waited for in the dispatcher itself: past a scheduled one's earliest start


def _wait_for_next_due(deadline: float, *, may_wait: bool = True) -> bool:
    """When nothing is due: whether a retry falls due within SHORT_WAIT_SECONDS (then this
    dispatcher waits for it, and returns True to dispatch again); one due later, before the next
    sweep, gets a dispatcher of its own at its `nextAttemptAt` rather than waiting for that sweep."""
    now = timezone.now()
    soonest = (
        WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.RETRYING, next_attempt_at__gt=now, endpoint__enabled=True
        )
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )
    if soonest is None:
        return False
    wait_seconds = (soonest - now).total_seconds()
    if may_wait and wait_seconds <= SHORT_WAIT_SECONDS and time.monotonic() + wait_seconds < deadline:
        time.sleep(wait_seconds)
        return True
    if wait_seconds < settings.DELIVERY_SWEEP_INTERVAL_SECONDS:
        _schedule_retry(wait_seconds)
    return False


def webhook_deliveries_dispatch(*, max_seconds: float | None = None) -> int:
    """Send every due delivery, WEBHOOK_DISPATCH_THREADS at a time; returns how many tries were made.

    Runs until nothing is due (or ``max_seconds`` passed, then finishes the tries in flight).
    """
    redis = _redis()
    if redis is not None:
        try:
            redis.delete(PENDING_FLAG)  # from now on, a new commit schedules another dispatcher
        except RedisError:
            pass
    deadline = time.monotonic() + (max_seconds or settings.WEBHOOK_DISPATCH_MAX_SECONDS)
    threads = settings.WEBHOOK_DISPATCH_THREADS
    slots = Slots(_redis())
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="webhook") as pool:
        made = _dispatch_due(pool, threads, slots, deadline)
        # Once per run: a retry about to fall due is waited for, and sent, here.
        if _wait_for_next_due(deadline):
            made += _dispatch_due(pool, threads, slots, deadline)
            _wait_for_next_due(deadline, may_wait=False)
    return made


def _dispatch_due(pool: ThreadPoolExecutor, threads: int, slots: "Slots", deadline: float) -> int:
    """Send what is due, ``threads`` tries in flight at a time, until nothing is (or the deadline)."""
    in_flight: dict[Future, WebhookDelivery] = {}
    made = 0
    while True:
        free = threads - len(in_flight)
        if free and time.monotonic() < deadline:
            claimed = _claim(limit=free, slots=slots)
            secrets = active_secrets({d.endpoint_id for d in claimed}, timezone.now())
            for delivery in claimed:
                body, headers = signed_request(delivery, secrets.get(delivery.endpoint_id, []))
                in_flight[pool.submit(guard.post, delivery.endpoint.url, body=body, headers=headers)] = delivery
            if not claimed and not in_flight:
                break
        elif not in_flight:
            break
        done, _ = wait(in_flight, timeout=0.2, return_when=FIRST_COMPLETED)
        for future in done:
            delivery = in_flight.pop(future)
            slots.give_back(delivery)
            _record(delivery, future.result())
            made += 1
    return made
