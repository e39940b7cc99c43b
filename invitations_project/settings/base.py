"""The core: debug, the secret key (and the production refusal of placeholder secrets), hosts, apps,
middleware, templates, languages, static files."""

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from invitations_project.settings.environment import env
from ops.checks import secret_problem

BASE_DIR = Path(__file__).resolve().parent.parent.parent

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
    _user, _colon, _password = os.environ.get("ANYMAIL_WEBHOOK_SECRET", "").partition(":")
    if os.environ.get("ANYMAIL_WEBHOOK_SECRET") and not (_user and _colon and _password):
        raise ImproperlyConfigured(
            "ANYMAIL_WEBHOOK_SECRET must be user:password, the HTTP Basic credential in the ESP's webhook URL "
            "(DEBUG is off)."
        )

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS: list[str] = env.list("CSRF_TRUSTED_ORIGINS", [])

# Where the recipient's link points: {PUBLIC_BASE_URL}/i/{token}
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    # First: its ready() prepares what the others' code needs (the metrics directory, Sentry).
    "ops",
    "console.apps.ConsoleAdminConfig",
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
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "api",
    "jobs",
    "accounts",
    "billing",
    "invitations",
    "delivery",
    "suppressions",
    "webhooks",
    "requestlog",
]

MIDDLEWARE = [
    # Outermost: every answer, whatever made it, carries Request-Id, and is counted.
    "requestlog.middleware.RequestIdMiddleware",
    "ops.metrics.MetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "api.middleware.ApiRequestLimitsMiddleware",
    "api.middleware.DatabaseDeadlineMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "console.middleware.AdminGuardMiddleware",
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
    ("pt-br", "Português (Brasil)"),
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
