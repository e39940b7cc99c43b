"""Seeing what it does: logs, error reporting, metrics."""

import os

from invitations_project.settings.base import DEBUG
from invitations_project.settings.environment import env, validate
from ops.checks import metrics_directory

# --- Error reporting (Sentry) -------------------------------------------------------------------
# Unset, sentry-sdk is not even imported (ops' AppConfig.ready starts it when set).
SENTRY_DSN = env.str("SENTRY_DSN", "")
SENTRY_ENVIRONMENT = env.str("SENTRY_ENVIRONMENT", "production")
SENTRY_RELEASE = env.str("SENTRY_RELEASE", "")

# --- Metrics (GET /metrics) --------------------------------------------------------------------
# Set, a scrape must send "Authorization: Bearer <METRICS_TOKEN>". Samples of every process are summed
# when PROMETHEUS_MULTIPROC_DIR names a directory they all share (gunicorn.conf.py, the Procfile).
METRICS_TOKEN = env.str("METRICS_TOKEN", "")
# With Redis (several processes) the samples go to files in this directory, one set per process; every
# process of one deployment must use the same one. It is private to the deployment: by default in the
# checkout (var/metrics), made 0700 and refused when another user owns it or may write to it (anyone
# who can write there can forge the figures). The embedded default keeps them in memory.
PROMETHEUS_MULTIPROC_DIR = metrics_directory(os.environ)
# Made and checked by ops' AppConfig.ready, which hands it to prometheus_client.
METRICS_SCRAPE_COLLECTORS = ["delivery.metrics.OutboxCollector", "delivery.metrics.ProviderRestCollector"]


# One JSON object a line unless DEBUG is on (LOG_FORMAT overrides); recipients masked, secrets cut
# (invitations_project/logs.py).
LOG_FORMAT = env.str("LOG_FORMAT", "text" if DEBUG else "json", validate=validate.OneOf(["text", "json"]))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "ops.logs.ContextFilter"}},
    "formatters": {
        "text": {
            "()": "ops.logs.TextFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
        },
        "json": {"()": "ops.logs.JsonLineFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["context"]}},
    "root": {
        "handlers": ["console"],
        "level": env.str(
            "LOG_LEVEL", "INFO", validate=validate.OneOf(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"])
        ),
    },
    # The twilio client writes eleven INFO lines about every call it makes; the send's own lines say enough.
    "loggers": {"twilio.http_client": {"level": "WARNING"}},
}
