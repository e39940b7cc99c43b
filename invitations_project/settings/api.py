"""The REST API: parsing and errors, dashboard tokens, throttles, lists, the request log and the
Idempotency-Key store, the OpenAPI description."""

from api.openapi_settings import OPENAPI_SETTINGS
from invitations_project.settings.environment import POSITIVE, RATE, env, validate

# --- API ----------------------------------------------------------------------------------------
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", 1024 * 1024, validate=POSITIVE)
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.PrivateKeyAuthentication",
        "accounts.authentication.JwtAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["api.parsers.StrictJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "api.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

# --- Dashboard users: JWT access and refresh tokens (POST /v1/auth/token) ----------------------
# Empty: a key derived from SECRET_KEY. Set it to rotate tokens without rotating SECRET_KEY.
JWT_SIGNING_KEY = env.str("JWT_SIGNING_KEY", "")
JWT_ISSUER = env.str("JWT_ISSUER", "invitations")
JWT_ACCESS_TTL_SECONDS = env.int("JWT_ACCESS_TTL_SECONDS", 15 * 60, validate=POSITIVE)
JWT_REFRESH_TTL_SECONDS = env.int("JWT_REFRESH_TTL_SECONDS", 7 * 24 * 3600, validate=POSITIVE)

# --- Throttles: django-ratelimit counters on the default (Redis) cache --------------------------
# Rates are "N/period" (s, m, h, d; "20/5m" works too). When the cache cannot be reached the
# throttles let requests through and log it; the per-invitation limits live in PostgreSQL.
RATELIMIT_ENABLE = env.bool("RATELIMIT_ENABLE", True)
RATELIMIT_USE_CACHE = "default"
RATELIMIT_FAIL_OPEN = True
RATELIMIT_CACHE_PREFIX = "rl:"
RESEND_RATE_PER_IP = env.str("RESEND_RATE_PER_IP", "30/m", validate=RATE)
RESEND_RATE_PER_ORG = env.str("RESEND_RATE_PER_ORG", "20/m", validate=RATE)
CREATE_RATE_PER_ORG = env.str("CREATE_RATE_PER_ORG", "100/m", validate=RATE)
# Batch create (POST /v1/autodoc/invitations/batch): its own bucket per organization and mode, and
# how many items a call may carry.
BATCH_CREATE_RATE_PER_ORG = env.str("BATCH_CREATE_RATE_PER_ORG", "10/m", validate=RATE)
BATCH_CREATE_MAX = env.int("BATCH_CREATE_MAX", 500, validate=validate.Range(min=1, max=5000))
# The console's Import from CSV on the invitation list: at most this many rows and bytes in a file.
CSV_IMPORT_MAX_ROWS = env.int("CSV_IMPORT_MAX_ROWS", 5000, validate=POSITIVE)
CSV_IMPORT_MAX_BYTES = env.int("CSV_IMPORT_MAX_BYTES", 2 * 1024 * 1024, validate=POSITIVE)
AUTH_TOKEN_RATE_PER_IP = env.str("AUTH_TOKEN_RATE_PER_IP", "10/m", validate=RATE)
# Logins per account whatever the IP, so spraying passwords from many addresses stays slow too.
AUTH_TOKEN_RATE_PER_ACCOUNT = env.str("AUTH_TOKEN_RATE_PER_ACCOUNT", "20/15m", validate=RATE)
# Provider and dossier webhooks, per sending IP (providers send in bursts from few addresses).
PROVIDER_WEBHOOK_RATE_PER_IP = env.str("PROVIDER_WEBHOOK_RATE_PER_IP", "600/m", validate=RATE)
# A webhook endpoint's test, recovery and an event's redelivery, per organization and mode (one bucket).
WEBHOOK_ACTION_RATE_PER_ORG = env.str("WEBHOOK_ACTION_RATE_PER_ORG", "20/m", validate=RATE)
# Webhook endpoints made or changed (each looks its address up in DNS), per organization and mode.
WEBHOOK_ENDPOINT_WRITE_RATE_PER_ORG = env.str("WEBHOOK_ENDPOINT_WRITE_RATE_PER_ORG", "30/m", validate=RATE)
# Suppressions added or lifted by hand (each writes an event), per organization and mode.
SUPPRESSION_WRITE_RATE_PER_ORG = env.str("SUPPRESSION_WRITE_RATE_PER_ORG", "60/m", validate=RATE)
# The client IP is REMOTE_ADDR unless REMOTE_ADDR is one of these proxies (IPs or CIDRs); only then
# is TRUSTED_PROXY_HEADER read, right to left, skipping the trusted hops.
TRUSTED_PROXIES: list[str] = env.list("TRUSTED_PROXIES", [])
TRUSTED_PROXY_HEADER = env.str("TRUSTED_PROXY_HEADER", "HTTP_X_FORWARDED_FOR")

# A list counts this many matches at most; past it, pagination's total is the cap and totalCapped true.
LIST_COUNT_CAP = env.int("LIST_COUNT_CAP", 100_000, validate=POSITIVE)

# --- Request log and Idempotency-Key ------------------------------------------------------------
# Authenticated /v1/ requests are kept this many days (GET /v1/requests); with Redis they wait in a
# stream capped at REQUEST_LOG_STREAM_MAX_ENTRIES until the sweep (or a read) moves them to PostgreSQL.
REQUEST_LOG_RETENTION_DAYS = env.int("REQUEST_LOG_RETENTION_DAYS", 14, validate=POSITIVE)
REQUEST_LOG_STREAM_MAX_ENTRIES = env.int("REQUEST_LOG_STREAM_MAX_ENTRIES", 200_000, validate=POSITIVE)
# Each web process sends the entries of its requests to the stream this often, in one round trip.
REQUEST_LOG_SEND_INTERVAL_MS = env.int("REQUEST_LOG_SEND_INTERVAL_MS", 200, validate=POSITIVE)
# A POST's stored answer is replayed for this long.
IDEMPOTENCY_KEY_TTL_HOURS = env.int("IDEMPOTENCY_KEY_TTL_HOURS", 24, validate=POSITIVE)

# --- OpenAPI description and API reference page (drf-spectacular) -------------------------------
# GET /v1/openapi.json is the schema; /docs/ renders it with Swagger UI, whose assets come from
# drf-spectacular-sidecar and are served by whitenoise: nothing is loaded from a CDN.
SPECTACULAR_SETTINGS = OPENAPI_SETTINGS
