"""Settings, read from the environment in this one module.

With neither DATABASE_URL nor REDIS_URL set the service runs on the embedded default: SQLite,
delivery jobs run inline after commit, console email and SMS.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean, got {value!r}")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from exc


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG and env_str("DATABASE_URL"):
        raise ImproperlyConfigured("SECRET_KEY must be set when DATABASE_URL is set and DEBUG is off")
    SECRET_KEY = "insecure-embedded-default-key-change-me-0123456789abcdef"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# Where the recipient's link points: {PUBLIC_BASE_URL}/i/{token}
PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_rq",
    "anymail",
    "accounts",
    "billing",
    "invitations",
    "delivery",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "invitations_project.middleware.ApiBodySizeLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
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
]

# --- Database -----------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    # Persistent connections, in web processes and in workers alike (the worker keeps its connection
    # between jobs as a web process does between requests): a connection is reopened after
    # DB_CONN_MAX_AGE seconds, and checked with one cheap query before its first use in a request or
    # a job, so one PostgreSQL dropped while it sat idle is replaced instead of failing the work.
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60), conn_health_checks=True
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
REDIS_URL = env_str("REDIS_URL")
# Without Redis, delivery jobs run inline right after the transaction commits.
DELIVERY_INLINE = env_bool("DELIVERY_INLINE", not REDIS_URL)
_rq_url = REDIS_URL or "redis://127.0.0.1:6379/0"
# A Redis host that drops packets, or a Redis that accepts connections and answers nothing (frozen,
# swapping), must not hang a request at commit: give up on the enqueue, the sweeper enqueues later.
# rq workers raise their own connection's read timeout above their blocking dequeue by themselves.
for _option, _seconds in (("socket_connect_timeout", 2), ("socket_timeout", 5)):
    if f"{_option}=" not in _rq_url:
        _rq_url += ("&" if "?" in _rq_url else "?") + f"{_option}={_seconds}"
RQ_QUEUES = {
    "delivery": {"URL": _rq_url, "DEFAULT_TIMEOUT": 60},
    "default": {"URL": _rq_url, "DEFAULT_TIMEOUT": 300},
}
RQ = {
    "COMMIT_MODE": "on_db_commit",
    # `rqworker` runs jobs in its own process and keeps its database connection between them (see
    # invitations_project/worker.py); RQ_WORKER_CLASS=rq.Worker forks a work horse per job instead.
    "WORKER_CLASS": env_str("RQ_WORKER_CLASS") or "invitations_project.worker.InProcessWorker",
}

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "inv"),
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Delivery channels --------------------------------------------------------------------------
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "invitations@example.com")
# anymail reads its provider credentials from here (e.g. ANYMAIL_POSTMARK_SERVER_TOKEN).
ANYMAIL = {key.removeprefix("ANYMAIL_"): value for key, value in os.environ.items() if key.startswith("ANYMAIL_")}

# Waits, in seconds, before each automatic retry of a transient delivery failure (about an hour).
DELIVERY_RETRY_INTERVALS = [int(x) for x in env_list("DELIVERY_RETRY_INTERVALS", ["60", "300", "600", "1200", "1800"])]

SMS_BACKEND = env_str("SMS_BACKEND", "delivery.sms.ConsoleSmsBackend")
SMS_FROM = env_str("SMS_FROM", "AutoDoc")
# Region for phone numbers written without a country code; empty means E.164 (+...) is required.
SMS_DEFAULT_REGION = env_str("SMS_DEFAULT_REGION", "")

# --- Invitation limits (API.md) -----------------------------------------------------------------
INVITATION_MAX_DELIVERY_ATTEMPTS = env_int("INVITATION_MAX_DELIVERY_ATTEMPTS", 10)
INVITATION_RESEND_COOLDOWN_SECONDS = env_int("INVITATION_RESEND_COOLDOWN_SECONDS", 180)
INVITATION_EXPIRY_DAYS = env_int("INVITATION_EXPIRY_DAYS", 30)
INVITATION_DEFAULT_FLOW_URL = env_str("INVITATION_DEFAULT_FLOW_URL", "https://verify.example.com/flow")

# --- Billing: default prices when no Price row exists ("amount,currency") -----------------------
BILLING_DEFAULT_PRICES = {
    "send.email": tuple(env_list("BILLING_PRICE_SEND_EMAIL", ["0.0100", "EUR"])),
    "send.sms": tuple(env_list("BILLING_PRICE_SEND_SMS", ["0.0500", "EUR"])),
}

# --- API ----------------------------------------------------------------------------------------
API_MAX_BODY_BYTES = env_int("API_MAX_BODY_BYTES", 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.PrivateKeyAuthentication",
        "accounts.authentication.JwtAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "invitations_project.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
}

# --- Dashboard users: JWT access and refresh tokens (POST /v1/auth/token) ----------------------
# Empty: a key derived from SECRET_KEY. Set it to rotate tokens without rotating SECRET_KEY.
JWT_SIGNING_KEY = env_str("JWT_SIGNING_KEY")
JWT_ISSUER = env_str("JWT_ISSUER", "invitations")
JWT_ACCESS_TTL_SECONDS = env_int("JWT_ACCESS_TTL_SECONDS", 15 * 60)
JWT_REFRESH_TTL_SECONDS = env_int("JWT_REFRESH_TTL_SECONDS", 7 * 24 * 3600)

# --- Throttles: django-ratelimit counters on the default (Redis) cache --------------------------
# Rates are "N/period" (s, m, h, d; "20/5m" works too). When the cache cannot be reached the
# throttles let requests through and log it; the per-invitation limits live in PostgreSQL.
RATELIMIT_ENABLE = env_bool("RATELIMIT_ENABLE", True)
RATELIMIT_USE_CACHE = "default"
RATELIMIT_FAIL_OPEN = True
RESEND_RATE_PER_IP = env_str("RESEND_RATE_PER_IP", "30/m")
RESEND_RATE_PER_ORG = env_str("RESEND_RATE_PER_ORG", "20/m")
CREATE_RATE_PER_ORG = env_str("CREATE_RATE_PER_ORG", "100/m")
AUTH_TOKEN_RATE_PER_IP = env_str("AUTH_TOKEN_RATE_PER_IP", "10/m")
# The client IP is REMOTE_ADDR unless REMOTE_ADDR is one of these proxies (IPs or CIDRs); only then
# is TRUSTED_PROXY_HEADER read, right to left, skipping the trusted hops.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES", [])
TRUSTED_PROXY_HEADER = env_str("TRUSTED_PROXY_HEADER", "HTTP_X_FORWARDED_FOR")

# --- Support console (Django admin) ------------------------------------------------------------
# A Resend over more rows than this shows a confirmation page first.
ADMIN_RESEND_CONFIRM_ABOVE = env_int("ADMIN_RESEND_CONFIRM_ABOVE", 10)
# More rows than this in one Resend are refused with a pointer to the resend_invitations command.
ADMIN_RESEND_MAX_ROWS = env_int("ADMIN_RESEND_MAX_ROWS", 1000)
# Up to this many rows, one outcome message each; past it, a summary and the refusals up to this many.
ADMIN_RESEND_MESSAGES_MAX = env_int("ADMIN_RESEND_MESSAGES_MAX", 20)

# --- OpenAPI description and API reference page (drf-spectacular) -------------------------------
# GET /v1/openapi.json is the schema; /docs/ renders it with Swagger UI, whose assets come from
# drf-spectacular-sidecar and are served by whitenoise: nothing is loaded from a CDN.
INSTALLED_APPS += ["drf_spectacular", "drf_spectacular_sidecar"]
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1, "whitenoise.middleware.WhiteNoiseMiddleware"
)
REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"] = "drf_spectacular.openapi.AutoSchema"
SPECTACULAR_SETTINGS = {
    "TITLE": "AutoDoc invitations API",
    "DESCRIPTION": "Send identity-verification invitations by email and SMS, follow their lifecycle and resend "
    'them safely. Every error has the envelope {"error": {"type", "message", ...}}.',
    "VERSION": "1",
    "SCHEMA_PATH_PREFIX": r"/v1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_AUTHENTICATION": [],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "APPEND_COMPONENTS": {
        "securitySchemes": {
            "JwtAuth": {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": "A short-lived token for a dashboard user, issued by POST /v1/auth/token. It names "
                "the organization and acts in live mode with that user's role.",
            }
        }
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "invitations_project.openapi.postprocess_error_responses",
    ],
    "ENUM_NAME_OVERRIDES": {
        "ChannelEnum": "invitations.models.Invitation.Channel",
        "StatusEnum": "invitations.models.Invitation.Status",
    },
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # No badge fetched from the public validator.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
}

# --- Auth, i18n, static -------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}

# --- Delivery reliability: outbox sweeper, provider webhooks, dossier events -------------------
# A `queued` attempt untouched this long (Redis was down at commit, or its job was lost) is
# enqueued again; so is a `retrying` one whose retry is this late.
DELIVERY_SWEEP_GRACE_SECONDS = env_int("DELIVERY_SWEEP_GRACE_SECONDS", 120)
# An attempt `sending` this long lost its worker; it is sent again with the same idempotency key.
# Longer than the delivery queue's job timeout, so a slow but live send is never taken over.
DELIVERY_SENDING_TIMEOUT_SECONDS = env_int("DELIVERY_SENDING_TIMEOUT_SECONDS", 300)
# How often `manage.py rqcron delivery.cron` runs the sweeper.
DELIVERY_SWEEP_INTERVAL_SECONDS = env_int("DELIVERY_SWEEP_INTERVAL_SECONDS", 60)
# Timeout of one call to an SMS provider.
SMS_TIMEOUT_SECONDS = env_int("SMS_TIMEOUT_SECONDS", 10)
# Twilio (SMS_BACKEND=delivery.sms.TwilioSmsBackend). The status callback URL is built on
# TWILIO_WEBHOOK_BASE_URL and its X-Twilio-Signature is checked against the same URL.
TWILIO_ACCOUNT_SID = env_str("TWILIO_ACCOUNT_SID")
TWILIO_AUTH_TOKEN = env_str("TWILIO_AUTH_TOKEN")
TWILIO_MESSAGING_SERVICE_SID = env_str("TWILIO_MESSAGING_SERVICE_SID")
TWILIO_WEBHOOK_BASE_URL = env_str("TWILIO_WEBHOOK_BASE_URL", PUBLIC_BASE_URL).rstrip("/")
# Dossier events: HMAC-SHA256 of the raw body with this shared secret, in X-Dossier-Signature;
# an event whose createdAt is further than the window from now is refused as a replay.
DOSSIER_WEBHOOK_SECRET = env_str("DOSSIER_WEBHOOK_SECRET")
DOSSIER_WEBHOOK_TOLERANCE_SECONDS = env_int("DOSSIER_WEBHOOK_TOLERANCE_SECONDS", 300)
