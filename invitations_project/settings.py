"""Settings, read from the environment in this one module.

With neither DATABASE_URL nor REDIS_URL set the service runs on the embedded default: SQLite,
delivery jobs run inline after commit, console email and SMS.

Every variable is parsed and validated here, at start-up, by environs: a bad value stops the
process with the variable's name and what is wrong with it, never a 500 later.
"""

import os
import re
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from environs import Env, validate
from marshmallow import ValidationError

from invitations_project.openapi_settings import OPENAPI_SETTINGS
from invitations_project.secrets_check import metrics_directory, private_directory, secret_problem

BASE_DIR = Path(__file__).resolve().parent.parent

env = Env()
POSITIVE = validate.Range(min=1)
NOT_NEGATIVE = validate.Range(min=0)
# django-ratelimit's rate format: N per period (s, m, h, d), like 30/m or 10/15m.
RATE = validate.Regexp(r"^[1-9][0-9]*/[0-9]*[smhd]$", error="Must look like 30/m or 10/15m.")


def _price(value: list[str]) -> None:
    if len(value) != 2:
        raise ValidationError("Must be amount,currency (like 0.0100,EUR).")
    try:
        amount = Decimal(value[0])
    except InvalidOperation as exc:
        raise ValidationError(f"{value[0]!r} is not a decimal amount.") from exc
    if not amount.is_finite() or amount < 0:
        raise ValidationError("The amount must be zero or more.")
    if not re.fullmatch(r"[A-Z]{3}", value[1]):
        raise ValidationError(f"{value[1]!r} is not a three-letter currency code.")


def _seconds_list(value: list[int]) -> None:
    if any(seconds < 0 for seconds in value) or len(value) > 50:
        raise ValidationError("Must be at most 50 whole numbers of seconds, none negative.")


def _header_and_value(value: list[str]) -> None:
    if value and (len(value) != 2 or not value[0].startswith("HTTP_")):
        raise ValidationError("Must be HEADER,value, like HTTP_X_FORWARDED_PROTO,https.")


DEBUG = env.bool("DEBUG", False)
SECRET_KEY = env.str("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        # Whatever the database: a production process never runs on a key anyone can read here.
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off (scripts/serve sets DEBUG=1).")
    SECRET_KEY = "insecure-embedded-default-key-change-me-0123456789abcdef"
if not DEBUG:
    # A production process never starts on a placeholder or a short secret (see secret_problem).
    for _name in ("SECRET_KEY", "DOSSIER_WEBHOOK_SECRET", "ANYMAIL_WEBHOOK_SECRET", "METRICS_TOKEN", "JWT_SIGNING_KEY"):
        _value = SECRET_KEY if _name == "SECRET_KEY" else os.environ.get(_name, "")
        if _name == "SECRET_KEY" or _value:
            _problem = secret_problem(_value)
            if _problem:
                raise ImproperlyConfigured(f"{_name} {_problem} (DEBUG is off).")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", [])

# Where the recipient's link points: {PUBLIC_BASE_URL}/i/{token}
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "django_rq",
    "anymail",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "csp",
    "accounts",
    "billing",
    "invitations",
    "delivery",
    "webhooks",
    "requestlog",
]

MIDDLEWARE = [
    # Outermost: every answer, whatever made it, carries Request-Id, and is counted.
    "requestlog.middleware.RequestIdMiddleware",
    "invitations_project.metrics.MetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "invitations_project.middleware.ApiRequestLimitsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "invitations_project.middleware.AdminGuardMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "invitations_project.urls"
WSGI_APPLICATION = "invitations_project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
    {
        # Plain text (subjects, SMS, text bodies): no HTML escaping, so "AT&T <Support>" stays as
        # written. Templates rendered here never become HTML (delivery.channels picks the engine).
        "NAME": "text",
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": False,
        "OPTIONS": {"autoescape": False},
    },
]

# --- Database -----------------------------------------------------------------------------------
DATABASE_URL = env.str("DATABASE_URL", "")
if DATABASE_URL:
    # Persistent connections, in web processes and in workers alike (the worker keeps its connection
    # between jobs as a web process does between requests): a connection is reopened after
    # DB_CONN_MAX_AGE seconds, and checked with one cheap query before its first use in a request or
    # a job, so one PostgreSQL dropped while it sat idle is replaced instead of failing the work.
    DATABASES = {
        "default": env.dj_db_url(
            "DATABASE_URL",
            conn_max_age=env.int("DB_CONN_MAX_AGE", 60, validate=NOT_NEGATIVE),
            conn_health_checks=True,
        )
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": BASE_DIR / "db.sqlite3",
            "OPTIONS": {"timeout": 20},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: job queues and the shared cache -----------------------------------------------------
REDIS_URL = env.str("REDIS_URL", "")
# Without Redis, delivery jobs run inline right after the transaction commits.
DELIVERY_INLINE = env.bool("DELIVERY_INLINE", not REDIS_URL)
_rq_url = REDIS_URL or "redis://127.0.0.1:6379/0"
# A Redis host that drops packets, or a Redis that accepts connections and answers nothing (frozen,
# swapping), must not hang a request at commit: give up on the enqueue, the sweeper enqueues later.
# rq workers raise their own connection's read timeout above their blocking dequeue by themselves.
for _option, _seconds in (("socket_connect_timeout", 2), ("socket_timeout", 5)):
    if f"{_option}=" not in _rq_url:
        _rq_url += ("&" if "?" in _rq_url else "?") + f"{_option}={_seconds}"
RQ_QUEUES = {
    "delivery": {"URL": _rq_url, "DEFAULT_TIMEOUT": 60},
    "webhooks": {"URL": _rq_url, "DEFAULT_TIMEOUT": 300},
    "default": {"URL": _rq_url, "DEFAULT_TIMEOUT": 300},
}
# Jobs one ThreadedWorker runs at once when it serves queues that have no pool of their own below.
RQ_WORKER_THREADS = env.int("RQ_WORKER_THREADS", 16, validate=validate.Range(min=1, max=256))
# One pool of worker processes per queue (`manage.py runworkers QUEUE`), so delivery never waits
# behind webhooks or the periodic jobs: each pool's processes, and the jobs each runs at once on
# threads. A webhooks job is a dispatcher with WEBHOOK_DISPATCH_THREADS tries of its own in flight.
_THREADS = validate.Range(min=1, max=256)
WORKER_POOLS = {
    "delivery": {
        "processes": env.int("DELIVERY_WORKER_PROCESSES", 2, validate=_THREADS),
        "threads": env.int("DELIVERY_WORKER_THREADS", RQ_WORKER_THREADS, validate=_THREADS),
    },
    "webhooks": {
        "processes": env.int("WEBHOOKS_WORKER_PROCESSES", 1, validate=_THREADS),
        "threads": env.int("WEBHOOKS_WORKER_THREADS", 1, validate=_THREADS),
    },
    "default": {
        "processes": env.int("DEFAULT_WORKER_PROCESSES", 1, validate=_THREADS),
        "threads": env.int("DEFAULT_WORKER_THREADS", 4, validate=_THREADS),
    },
}
RQ = {
    "COMMIT_MODE": "on_db_commit",
    # `rqworker` runs jobs in its own process and keeps its database connection between them (see
    # invitations_project/worker.py); RQ_WORKER_CLASS=rq.Worker forks a work horse per job instead.
    "WORKER_CLASS": env.str("RQ_WORKER_CLASS", "") or "invitations_project.worker.ThreadedWorker",
}

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", "inv"),
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Delivery channels --------------------------------------------------------------------------
EMAIL_BACKEND = env.str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", "localhost")
EMAIL_PORT = env.int("EMAIL_PORT", 25, validate=POSITIVE)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", 10, validate=POSITIVE)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", "invitations@example.com")
# anymail reads its provider credentials from here (e.g. ANYMAIL_POSTMARK_SERVER_TOKEN), and
# ANYMAIL_WEBHOOK_SECRET ("user:password") is the HTTP Basic credential every tracking webhook
# must carry: without it set, the tracking endpoints refuse everything.
ANYMAIL = {key.removeprefix("ANYMAIL_"): value for key, value in os.environ.items() if key.startswith("ANYMAIL_")}

# Waits, in seconds, before each automatic retry of a transient delivery failure (about an hour).
DELIVERY_RETRY_INTERVALS = env.list(
    "DELIVERY_RETRY_INTERVALS", [60, 300, 600, 1200, 1800], subcast=int, validate=_seconds_list
)

SMS_BACKEND = env.str("SMS_BACKEND", "delivery.sms.ConsoleSmsBackend")
SMS_FROM = env.str("SMS_FROM", "AutoDoc")
# Region for phone numbers written without a country code; empty means E.164 (+...) is required.
SMS_DEFAULT_REGION = env.str("SMS_DEFAULT_REGION", "")

# --- Invitation limits (API.md) -----------------------------------------------------------------
INVITATION_MAX_DELIVERY_ATTEMPTS = env.int("INVITATION_MAX_DELIVERY_ATTEMPTS", 10, validate=POSITIVE)
INVITATION_RESEND_COOLDOWN_SECONDS = env.int("INVITATION_RESEND_COOLDOWN_SECONDS", 180, validate=NOT_NEGATIVE)
INVITATION_EXPIRY_DAYS = env.int("INVITATION_EXPIRY_DAYS", 30, validate=POSITIVE)
INVITATION_DEFAULT_FLOW_URL = env.str(
    "INVITATION_DEFAULT_FLOW_URL", "https://verify.example.com/flow", validate=validate.URL(schemes={"http", "https"})
)

# --- Billing: default prices when no Price row exists ("amount,currency") -----------------------
BILLING_DEFAULT_PRICES = {
    "send.email": tuple(env.list("BILLING_PRICE_SEND_EMAIL", ["0.0100", "EUR"], validate=_price)),
    "send.sms": tuple(env.list("BILLING_PRICE_SEND_SMS", ["0.0500", "EUR"], validate=_price)),
}

# --- API ----------------------------------------------------------------------------------------
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", 1024 * 1024, validate=POSITIVE)
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.PrivateKeyAuthentication",
        "accounts.authentication.JwtAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["invitations_project.parsers.StrictJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "invitations_project.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
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
RESEND_RATE_PER_IP = env.str("RESEND_RATE_PER_IP", "30/m", validate=RATE)
RESEND_RATE_PER_ORG = env.str("RESEND_RATE_PER_ORG", "20/m", validate=RATE)
CREATE_RATE_PER_ORG = env.str("CREATE_RATE_PER_ORG", "100/m", validate=RATE)
AUTH_TOKEN_RATE_PER_IP = env.str("AUTH_TOKEN_RATE_PER_IP", "10/m", validate=RATE)
# Logins per account whatever the IP, so spraying passwords from many addresses stays slow too.
AUTH_TOKEN_RATE_PER_ACCOUNT = env.str("AUTH_TOKEN_RATE_PER_ACCOUNT", "20/15m", validate=RATE)
# Provider and dossier webhooks, per sending IP (providers send in bursts from few addresses).
PROVIDER_WEBHOOK_RATE_PER_IP = env.str("PROVIDER_WEBHOOK_RATE_PER_IP", "600/m", validate=RATE)
# A webhook endpoint's test, recovery and an event's redelivery, per organization and mode (one bucket).
WEBHOOK_ACTION_RATE_PER_ORG = env.str("WEBHOOK_ACTION_RATE_PER_ORG", "20/m", validate=RATE)
# The client IP is REMOTE_ADDR unless REMOTE_ADDR is one of these proxies (IPs or CIDRs); only then
# is TRUSTED_PROXY_HEADER read, right to left, skipping the trusted hops.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", [])
TRUSTED_PROXY_HEADER = env.str("TRUSTED_PROXY_HEADER", "HTTP_X_FORWARDED_FOR")

# --- Error reporting (Sentry) -------------------------------------------------------------------
# Unset, sentry-sdk is not even imported.
SENTRY_DSN = env.str("SENTRY_DSN", "")
if SENTRY_DSN:
    from invitations_project.sentry import sentry_init

    sentry_init(
        dsn=SENTRY_DSN,
        environment=env.str("SENTRY_ENVIRONMENT", "production"),
        release=env.str("SENTRY_RELEASE", ""),
    )

# --- Metrics (GET /metrics) --------------------------------------------------------------------
# Set, a scrape must send "Authorization: Bearer <METRICS_TOKEN>". Samples of every process are summed
# when PROMETHEUS_MULTIPROC_DIR names a directory they all share (gunicorn.conf.py, the Procfile).
METRICS_TOKEN = env.str("METRICS_TOKEN", "")
# With Redis (several processes) the samples go to files in this directory, one set per process; every
# process of one deployment must use the same one. It is private to the deployment: by default in the
# checkout (var/metrics), made 0700 and refused when another user owns it or may write to it (anyone
# who can write there can forge the figures). The embedded default keeps them in memory.
PROMETHEUS_MULTIPROC_DIR = metrics_directory(os.environ)
if PROMETHEUS_MULTIPROC_DIR:
    _problem = private_directory(Path(PROMETHEUS_MULTIPROC_DIR))
    if _problem:
        raise ImproperlyConfigured(f"PROMETHEUS_MULTIPROC_DIR {_problem}")
    # Read by prometheus_client when it is first imported, after these settings.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = PROMETHEUS_MULTIPROC_DIR
METRICS_SCRAPE_COLLECTORS = ["delivery.metrics.OutboxCollector"]

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

# --- Support console (Django admin) -------------------------------------------------------------
# A Resend over more rows than this shows a confirmation page first; one over ADMIN_RESEND_MAX_ROWS
# is refused with a pointer to the resend_invitations command.
ADMIN_RESEND_CONFIRM_ABOVE = env.int("ADMIN_RESEND_CONFIRM_ABOVE", 10, validate=NOT_NEGATIVE)
ADMIN_RESEND_MAX_ROWS = env.int("ADMIN_RESEND_MAX_ROWS", 1000, validate=POSITIVE)
# Up to this many rows, one outcome message each; past it, a summary and the refusals up to this many.
ADMIN_RESEND_MESSAGES_MAX = env.int("ADMIN_RESEND_MESSAGES_MAX", 20, validate=POSITIVE)

# Admin logins (django-axes): after ADMIN_LOGIN_FAILURE_LIMIT failures from one IP, or for one
# username, further logins from it or for it are refused, the right password included, until
# ADMIN_LOGIN_LOCKOUT_MINUTES have passed without another failure.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.int("ADMIN_LOGIN_FAILURE_LIMIT", 10, validate=POSITIVE)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("ADMIN_LOGIN_LOCKOUT_MINUTES", 15, validate=POSITIVE))
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_ONLY_ADMIN_SITE = True
AXES_CLIENT_IP_CALLABLE = "invitations_project.admin_security.login_client_ip"
AXES_LOCKOUT_CALLABLE = "invitations_project.admin_security.lockout_response"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
# Staff also give a TOTP code (django-otp); add each one's device first (totp_device_create).
ADMIN_OTP_REQUIRED = env.bool("ADMIN_OTP_REQUIRED", False)
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", "Invitations admin")

# --- HTTPS, cookies and the Content-Security-Policy ---------------------------------------------
# Secure by default with DEBUG off; a plain-HTTP run on loopback sets each to 0. Behind a proxy
# that terminates TLS, SECURE_PROXY_SSL_HEADER=HTTP_X_FORWARDED_PROTO,https.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", not DEBUG)
# Probes come over plain HTTP from inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000, validate=NOT_NEGATIVE)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", False)
SECURE_PROXY_SSL_HEADER = tuple(env.list("SECURE_PROXY_SSL_HEADER", [], validate=_header_and_value)) or None
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", not DEBUG)
SESSION_COOKIE_HTTPONLY = CSRF_COOKIE_HTTPONLY = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# One policy for every page (the admin, /docs/, the recipient's pages): scripts only from this
# origin, never inline; inline styles allowed (the admin's templates use style attributes).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# --- OpenAPI description and API reference page (drf-spectacular) -------------------------------
# GET /v1/openapi.json is the schema; /docs/ renders it with Swagger UI, whose assets come from
# drf-spectacular-sidecar and are served by whitenoise: nothing is loaded from a CDN.
INSTALLED_APPS += ["drf_spectacular", "drf_spectacular_sidecar"]
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1, "whitenoise.middleware.WhiteNoiseMiddleware"
)
REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"] = "drf_spectacular.openapi.AutoSchema"
SPECTACULAR_SETTINGS = OPENAPI_SETTINGS

# --- Auth, i18n, static -------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LANGUAGE_CODE = "en"
# What a recipient can read (emails, SMS, the link's pages); an invitation's locale picks one
# (invitations_project/languages.py). The catalogs are in locale/.
LANGUAGES = [
    ("en", "English"),
    ("de", "Deutsch"),
    ("fr", "Français"),
    ("es", "Español"),
    ("it", "Italiano"),
    ("nl", "Nederlands"),
    ("pt", "Português"),
    ("sv", "Svenska"),
    ("da", "Dansk"),
    ("pl", "Polski"),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

# One JSON object a line unless DEBUG is on (LOG_FORMAT overrides); recipients masked, secrets cut
# (invitations_project/logs.py).
LOG_FORMAT = env.str("LOG_FORMAT", "text" if DEBUG else "json", validate=validate.OneOf(["text", "json"]))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "invitations_project.logs.ContextFilter"}},
    "formatters": {
        "text": {
            "()": "invitations_project.logs.TextFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
        },
        "json": {"()": "invitations_project.logs.JsonLineFormatter"},
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

# --- Delivery reliability: outbox sweeper, provider webhooks, dossier events -------------------
# A `queued` attempt untouched this long (Redis was down at commit, or its job was lost) is
# enqueued again; so is a `retrying` one whose retry is this late.
DELIVERY_SWEEP_GRACE_SECONDS = env.int("DELIVERY_SWEEP_GRACE_SECONDS", 120, validate=NOT_NEGATIVE)
# An attempt `sending` this long lost its worker; it is sent again with the same idempotency key.
# Longer than the delivery queue's job timeout, so a slow but live send is never taken over.
DELIVERY_SENDING_TIMEOUT_SECONDS = env.int("DELIVERY_SENDING_TIMEOUT_SECONDS", 300, validate=POSITIVE)
# How often `manage.py rqcron delivery.cron` runs the sweeper.
DELIVERY_SWEEP_INTERVAL_SECONDS = env.int("DELIVERY_SWEEP_INTERVAL_SECONDS", 60, validate=POSITIVE)
# Timeout of one call to an SMS provider.
SMS_TIMEOUT_SECONDS = env.int("SMS_TIMEOUT_SECONDS", 10, validate=POSITIVE)
# Twilio (SMS_BACKEND=delivery.sms.TwilioSmsBackend). The status callback URL is built on
# TWILIO_WEBHOOK_BASE_URL and its X-Twilio-Signature is checked against the same URL.
TWILIO_ACCOUNT_SID = env.str("TWILIO_ACCOUNT_SID", "")
TWILIO_AUTH_TOKEN = env.str("TWILIO_AUTH_TOKEN", "")
TWILIO_MESSAGING_SERVICE_SID = env.str("TWILIO_MESSAGING_SERVICE_SID", "")
TWILIO_WEBHOOK_BASE_URL = env.str("TWILIO_WEBHOOK_BASE_URL", PUBLIC_BASE_URL).rstrip("/")
# Where the Messages API is called: Twilio's own host, or a Twilio-compatible API (a regional
# proxy, a test double); the account's credentials go with every call.
TWILIO_API_BASE_URL = env.str(
    "TWILIO_API_BASE_URL",
    "https://api.twilio.com",
    validate=validate.URL(schemes={"http", "https"}, require_tld=False),
).rstrip("/")
# Dossier events: HMAC-SHA256 of the raw body with this shared secret, in X-Dossier-Signature;
# an event whose createdAt is further than the window from now is refused as a replay.
DOSSIER_WEBHOOK_SECRET = env.str("DOSSIER_WEBHOOK_SECRET", "")
DOSSIER_WEBHOOK_TOLERANCE_SECONDS = env.int("DOSSIER_WEBHOOK_TOLERANCE_SECONDS", 300, validate=POSITIVE)

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
