"""Prometheus metrics: the counters every process adds to, and GET /metrics that sums them.

With PROMETHEUS_MULTIPROC_DIR set (gunicorn.conf.py and the Procfile set it), every gunicorn worker
and rq worker writes its samples to files there and /metrics adds them all up, whichever worker
answers the scrape. A counter of something a transaction writes is incremented once it commits
(``count_on_commit``), so a rolled-back change is never counted. What is read when scraped (the
outbox's oldest queued attempt, the queue depths) comes from METRICS_SCRAPE_COLLECTORS.
"""

import hmac
import os
import time
from functools import cache

from django.conf import settings
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.module_loading import import_string
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

HTTP_REQUESTS = Counter(
    "invitations_http_requests_total", "HTTP requests answered, by view and status.", ["view", "method", "status"]
)
HTTP_LATENCY = Histogram(
    "invitations_http_request_duration_seconds",
    "Time to answer an HTTP request, by view.",
    ["view", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
# Summed over the live processes only: a worker that died is dropped (gunicorn.conf.py's child_exit).
HTTP_IN_FLIGHT = Gauge(
    "invitations_http_requests_in_flight", "Requests being answered now.", multiprocess_mode="livesum"
)
DELIVERIES = Counter(
    "invitations_deliveries_total",
    "Send attempts finished by a provider call, by channel and outcome (accepted, simulated, retrying, failed).",
    ["channel", "outcome"],
)
PROVIDER_SENDS = Counter(
    "invitations_provider_sends_total",
    "Provider calls for sends, by channel, provider and outcome: accepted, refused (for its recipient), failed "
    "(before taking it: handed to the next provider), unknown (the answer never came).",
    ["channel", "provider", "outcome"],
)
RESENDS = Counter(
    "invitations_resends_total", "Resends asked for, by outcome (resent, or the rule that refused).", ["outcome"]
)
REQUEST_LOG_DEAD_LETTERS = Counter(
    "invitations_request_log_dead_letters_total",
    "Request log entries that could not be stored, moved to the dead-letter stream (requestlog:dead-letter).",
)
WEBHOOK_DELIVERIES = Counter(
    "invitations_webhook_deliveries_total",
    "Tries of outbound webhook deliveries, by outcome (delivered, retrying, failed).",
    ["outcome"],
)


def count_on_commit(counter, amount: int = 1, **labels) -> None:
    """Add ``amount`` (one) to ``counter`` once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: counter.labels(**labels).inc(amount))


@cache
def _scrape_collectors() -> tuple:
    return tuple(import_string(path)() for path in settings.METRICS_SCRAPE_COLLECTORS)


@cache
def _single_process_registry() -> CollectorRegistry:
    for collector in _scrape_collectors():
        REGISTRY.register(collector)
    return REGISTRY


def _registry() -> CollectorRegistry:
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # One process (the embedded default, a test run): its own samples.
        return _single_process_registry()
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    for collector in _scrape_collectors():
        registry.register(collector)
    return registry


def _authorized(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    if not token:
        return settings.DEBUG  # checked by the view first: with DEBUG off, no token means no /metrics
    given = request.headers.get("Authorization", "")
    return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not settings.METRICS_TOKEN and not settings.DEBUG:
        # Never the figures to anyone who asks: production without a token has no /metrics at all.
        raise Http404("No metrics here.")
    if not _authorized(request):
        response = HttpResponse("Missing or invalid metrics token.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)


def _view_name(request: HttpRequest) -> str:
    match = request.resolver_match
    if match is None:
        return "unmatched"
    return match.view_name or match.route or "unnamed"


class MetricsMiddleware:
    """Counts and times every answer by the view that gave it (its URL name, never the raw path)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        HTTP_IN_FLIGHT.inc()
        try:
            response = self.get_response(request)
        finally:
            HTTP_IN_FLIGHT.dec()
        view = _view_name(request)
        method = request.method if request.method in KNOWN_METHODS else "other"
        HTTP_REQUESTS.labels(view=view, method=method, status=str(response.status_code)).inc()
        HTTP_LATENCY.labels(view=view, method=method).observe(time.perf_counter() - started)
        return response
