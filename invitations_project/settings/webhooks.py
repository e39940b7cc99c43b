"""The customers' outbound webhooks (API.md, "Outbound webhooks")."""

from invitations_project.settings.base import DEBUG
from invitations_project.settings.data import DATABASE_URL, REDIS_URL
from invitations_project.settings.environment import NOT_NEGATIVE, POSITIVE, _seconds_list, env

# --- Outbound webhooks (API.md, "Outbound webhooks") --------------------------------------------
WEBHOOK_TIMEOUT_SECONDS = env.int("WEBHOOK_TIMEOUT_SECONDS", 10, validate=POSITIVE)
# Seconds before each retry of a failed try: 8 tries over about 27 hours.
WEBHOOK_RETRY_INTERVALS = env.list(
    "WEBHOOK_RETRY_INTERVALS", [5, 300, 1800, 7200, 18000, 36000, 36000], subcast=int, validate=_seconds_list
)
WEBHOOK_DISABLE_AFTER_DAYS = env.int("WEBHOOK_DISABLE_AFTER_DAYS", 5, validate=POSITIVE)
WEBHOOK_ENDPOINT_CONCURRENCY = env.int("WEBHOOK_ENDPOINT_CONCURRENCY", 2, validate=POSITIVE)
# https:// and public addresses only, unless this is on (development, tests; the embedded default).
# Off whenever DEBUG is off, whatever the database, unless set.
WEBHOOK_ALLOW_PRIVATE_URLS = env.bool("WEBHOOK_ALLOW_PRIVATE_URLS", DEBUG and not DATABASE_URL and not REDIS_URL)
# Tries in flight per dispatcher (threads), and how long one dispatcher job runs before handing over.
WEBHOOK_DISPATCH_THREADS = env.int("WEBHOOK_DISPATCH_THREADS", 16, validate=POSITIVE)
WEBHOOK_DISPATCH_MAX_SECONDS = env.int("WEBHOOK_DISPATCH_MAX_SECONDS", 240, validate=POSITIVE)
WEBHOOK_EVENT_RETENTION_DAYS = env.int("WEBHOOK_EVENT_RETENTION_DAYS", 30, validate=POSITIVE)
# Fair shares: endpoints per organization and mode (as Stripe allows), and tries in flight at once for
# one organization across every dispatcher (0: a quarter of WEBHOOK_DISPATCH_THREADS), so one tenant's
# slow endpoints never take the whole pool.
WEBHOOK_MAX_ENDPOINTS = env.int("WEBHOOK_MAX_ENDPOINTS", 16, validate=POSITIVE)
WEBHOOK_ORG_CONCURRENCY = env.int("WEBHOOK_ORG_CONCURRENCY", 0, validate=NOT_NEGATIVE)
