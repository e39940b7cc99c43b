"""What /metrics reads from the outbox when it is scraped (see ops/metrics.py)."""

import logging
import time

from django.conf import settings
from django.db import DatabaseError
from prometheus_client.core import GaugeMetricFamily
from redis.exceptions import RedisError

from delivery import failover
from delivery.selectors import delivery_attempt_oldest_queued_at
from jobs.queueing import queue_for

logger = logging.getLogger(__name__)

QUEUES = ("delivery", "delivery-sandbox", "webhooks", "default")


def queue_depths() -> dict[str, int | None]:
    """How many jobs wait in each rq queue (None: Redis did not answer); empty without Redis."""
    depths: dict[str, int | None] = {}
    if settings.REDIS_URL:
        for queue in QUEUES:
            try:
                depths[queue] = queue_for(queue).count
            except RedisError as exc:
                logger.warning("Depth of queue %s not measured: %s", queue, exc)
                depths[queue] = None
    return depths


class OutboxCollector:
    """The age of the oldest send attempt still queued, and how many jobs wait in each rq queue."""

    def describe(self):
        yield GaugeMetricFamily("invitations_outbox_oldest_queued_seconds", "")
        yield GaugeMetricFamily("invitations_queue_depth", "", labels=["queue"])

    def collect(self):
        oldest = GaugeMetricFamily(
            "invitations_outbox_oldest_queued_seconds", "Age of the oldest send attempt still queued (0 when none is)."
        )
        try:
            queued_at = delivery_attempt_oldest_queued_at()
        except DatabaseError as exc:
            logger.warning("Outbox age not measured: %s", exc)
        else:
            oldest.add_metric([], max(0.0, time.time() - queued_at.timestamp()) if queued_at else 0.0)
        yield oldest
        depth = GaugeMetricFamily("invitations_queue_depth", "Jobs waiting in each rq queue.", labels=["queue"])
        for queue, count in queue_depths().items():
            if count is not None:
                depth.add_metric([queue], count)
        yield depth


class ProviderRestCollector:
    """Whether each configured provider rests now (1) or takes sends (0), as every worker sees it."""

    def describe(self):
        yield GaugeMetricFamily("invitations_provider_resting", "", labels=["channel", "provider"])

    def collect(self):
        resting = GaugeMetricFamily(
            "invitations_provider_resting",
            "1 while a provider rests after PROVIDER_FAILURE_THRESHOLD failures in a row, else 0.",
            labels=["channel", "provider"],
        )
        for channel in ("email", "sms"):
            for provider in failover.providers(channel):
                try:
                    until = failover.resting_until(provider)
                except RedisError as exc:
                    logger.warning("Rest of provider %s not read: %s", provider.name, exc)
                    continue
                resting.add_metric([channel, provider.name], 1.0 if until is not None and until > time.time() else 0.0)
        yield resting
