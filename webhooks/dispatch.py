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

from invitations_project.metrics import WEBHOOK_DELIVERIES, count_on_commit
from invitations_project.queueing import enqueue_in, enqueue_now, redis_for
from webhooks import guard
from webhooks.models import Endpoint, EndpointSecret, WebhookDelivery, WebhookTry

logger = logging.getLogger(__name__)

D = WebhookDelivery.Status
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


def claim_stale_after() -> timedelta:
    # Longer than any try can take (connect and read timeouts), so only a dead dispatcher's claim.
    return timedelta(seconds=2 * settings.WEBHOOK_TIMEOUT_SECONDS + 60)


def _due(now: datetime) -> Q:
    return (
        Q(status__in=(D.PENDING, D.RETRYING), endpoint__enabled=True)
        & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        & (Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - claim_stale_after()))
    )


class _Slots:
    """In-flight tries per endpoint: a Redis counter shared by every dispatcher (a local one without
    Redis), and the endpoints found full a moment ago, left out of the next claims for a second."""

    def __init__(self):
        self.redis = _redis()
        self.local: dict[int, int] = {}
        self.full: dict[int, float] = {}

    def full_now(self) -> set[int]:
        now = time.monotonic()
        return {endpoint for endpoint, since in self.full.items() if now - since < 1.0}

    def take(self, endpoint_id: int) -> bool:
        if self._take(endpoint_id):
            return True
        self.full[endpoint_id] = time.monotonic()
        return False

    def _take(self, endpoint_id: int) -> bool:
        limit = settings.WEBHOOK_ENDPOINT_CONCURRENCY
        if self.redis is not None:
            key = f"webhooks:inflight:{endpoint_id}"
            try:
                with self.redis.pipeline() as pipe:
                    count, _ = pipe.incr(key).expire(key, int(claim_stale_after().total_seconds())).execute()
                if count <= limit:
                    return True
                self.redis.decr(key)
                return False
            except RedisError:
                pass  # count here alone until Redis is back
        if self.local.get(endpoint_id, 0) >= limit:
            return False
        self.local[endpoint_id] = self.local.get(endpoint_id, 0) + 1
        return True

    def give_back(self, endpoint_id: int) -> None:
        self.full.pop(endpoint_id, None)
        if self.local.get(endpoint_id):
            self.local[endpoint_id] -= 1
            return
        try:
            self.redis.decr(f"webhooks:inflight:{endpoint_id}")
        except RedisError:
            pass


def _claim(*, limit: int, slots: _Slots) -> list[WebhookDelivery]:
    now = timezone.now()
    claimed: list[WebhookDelivery] = []
    with transaction.atomic():
        for _ in range(3):  # endpoints found full are left out of the next look
            # skip_locked: two dispatchers never claim the same row, nor wait on each other.
            candidates = (
                WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(_due(now))
                .exclude(pk__in=[d.pk for d in claimed])
                .exclude(endpoint_id__in=slots.full_now())
                .select_related("event", "endpoint")
                .order_by("next_attempt_at", "id")[: limit * 4]
            )
            rows = list(candidates)
            for delivery in rows:
                if len(claimed) < limit and delivery.endpoint_id not in slots.full_now():
                    if slots.take(delivery.endpoint_id):
                        claimed.append(delivery)
            if len(claimed) >= limit or len(rows) < limit * 4:
                break
        WebhookDelivery.objects.filter(pk__in=[d.pk for d in claimed]).update(claimed_at=now)
        for delivery in claimed:
            delivery.claimed_at = now
    return claimed


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
    tries = delivery.tries + 1
    next_at = None
    if answer.succeeded:
        status = D.SUCCEEDED
    elif tries <= len(intervals):
        status, next_at = D.RETRYING, now + timedelta(seconds=intervals[tries - 1])
    else:
        status = D.FAILED
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


def _schedule_retry(delay: int) -> None:
    if settings.DELIVERY_INLINE:
        return  # no scheduler: the sweeper dispatches retries when they are due
    redis = _redis()
    key = f"webhooks:dispatch-at:{int(time.time() + delay)}"
    try:
        if redis.set(key, "1", nx=True, ex=delay + 60):
            enqueue_in(delay, DISPATCH_JOB, queue_name="webhooks")
    except RedisError as exc:
        logger.warning("Could not schedule a webhook retry (%s); the sweeper will dispatch it", exc)


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
    slots = _Slots()
    in_flight: dict[Future, WebhookDelivery] = {}
    made = 0
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="webhook") as pool:
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
                slots.give_back(delivery.endpoint_id)
                _record(delivery, future.result())
                made += 1
    return made
