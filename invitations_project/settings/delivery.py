"""Sending: email and SMS providers, the invitation limits, prices, retries and the outbox sweeper,
provider and dossier webhooks."""

import os

from invitations_project.settings.base import PUBLIC_BASE_URL
from invitations_project.settings.environment import NOT_NEGATIVE, POSITIVE, _price, _seconds_list, env, validate

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
# Provider failover: ordered lists of backends (anymail's for email, each configured by anymail's own
# settings); empty means EMAIL_BACKEND (SMS_BACKEND) alone. A provider that fails
# PROVIDER_FAILURE_THRESHOLD sends in a row, before taking them, rests PROVIDER_REST_SECONDS.
EMAIL_BACKENDS: list[str] = env.list("EMAIL_BACKENDS", [])
SMS_BACKENDS: list[str] = env.list("SMS_BACKENDS", [])
PROVIDER_FAILURE_THRESHOLD = env.int("PROVIDER_FAILURE_THRESHOLD", 5, validate=POSITIVE)
PROVIDER_REST_SECONDS = env.int("PROVIDER_REST_SECONDS", 60, validate=POSITIVE)
SMS_FROM = env.str("SMS_FROM", "AutoDoc")
# Region for phone numbers written without a country code; empty means E.164 (+...) is required.
SMS_DEFAULT_REGION = env.str("SMS_DEFAULT_REGION", "")

# --- Invitation limits (API.md) -----------------------------------------------------------------
INVITATION_MAX_DELIVERY_ATTEMPTS = env.int("INVITATION_MAX_DELIVERY_ATTEMPTS", 10, validate=POSITIVE)
INVITATION_RESEND_COOLDOWN_SECONDS = env.int("INVITATION_RESEND_COOLDOWN_SECONDS", 180, validate=NOT_NEGATIVE)
INVITATION_EXPIRY_DAYS = env.int("INVITATION_EXPIRY_DAYS", 30, validate=POSITIVE)
# PATCH expiresAt may move the expiry to at most this long after the invitation was created.
INVITATION_MAX_LIFETIME_DAYS = env.int("INVITATION_MAX_LIFETIME_DAYS", 90, validate=POSITIVE)
# Automatic reminders: the shortest wait an invitation may ask for, and how often the periodic job
# (`manage.py rqcron jobs.cron`) looks for the due ones.
REMINDER_MIN_HOURS = env.float("REMINDER_MIN_HOURS", 1.0, validate=validate.Range(min=0, min_inclusive=False))
REMINDER_SWEEP_INTERVAL_SECONDS = env.int("REMINDER_SWEEP_INTERVAL_SECONDS", 60, validate=POSITIVE)
# Scheduled sends (sendAt): how often the periodic job queues the due ones (a send goes at most this
# late), and how far ahead a sendAt must be.
SCHEDULE_SWEEP_INTERVAL_SECONDS = env.int("SCHEDULE_SWEEP_INTERVAL_SECONDS", 10, validate=POSITIVE)
SCHEDULE_MIN_LEAD_SECONDS = 60
INVITATION_DEFAULT_FLOW_URL = env.str(
    "INVITATION_DEFAULT_FLOW_URL", "https://verify.example.com/flow", validate=validate.URL(schemes={"http", "https"})
)

# --- Billing: default prices when no Price row exists ("amount,currency") -----------------------
BILLING_DEFAULT_PRICES = {
    "send.email": tuple(env.list("BILLING_PRICE_SEND_EMAIL", ["0.0100", "EUR"], validate=_price)),
    "send.sms": tuple(env.list("BILLING_PRICE_SEND_SMS", ["0.0500", "EUR"], validate=_price)),
}

# --- Delivery reliability: outbox sweeper, provider webhooks, dossier events -------------------
# A `queued` attempt untouched this long (Redis was down at commit, or its job was lost) is
# enqueued again; so is a `retrying` one whose retry is this late.
DELIVERY_SWEEP_GRACE_SECONDS = env.int("DELIVERY_SWEEP_GRACE_SECONDS", 120, validate=NOT_NEGATIVE)
# An attempt `sending` this long lost its worker; it is taken over, the provider asked first
# whether the lost try reached it.
# Longer than the delivery queue's job timeout, so a slow but live send is never taken over.
DELIVERY_SENDING_TIMEOUT_SECONDS = env.int("DELIVERY_SENDING_TIMEOUT_SECONDS", 300, validate=POSITIVE)
# Many sends at once (a bulk resend, reminders) go this many to a job: claimed together, their
# provider calls overlapping, their outcomes written together. A lone send goes at once. A worker
# process runs one job at a time, so a batch is what keeps many provider calls in flight; 500 is
# what Postmark takes in one call.
DELIVERY_BATCH_SIZE = env.int("DELIVERY_BATCH_SIZE", 500, validate=validate.Range(min=1, max=1000))
# Provider calls in flight at once in one worker process (an email batch through Postmark is one).
DELIVERY_CONCURRENCY = env.int("DELIVERY_CONCURRENCY", 64, validate=validate.Range(min=1, max=256))
# How often `manage.py rqcron jobs.cron` runs the sweeper.
DELIVERY_SWEEP_INTERVAL_SECONDS = env.int("DELIVERY_SWEEP_INTERVAL_SECONDS", 60, validate=POSITIVE)
# The delivery health figures (the admin's page, GET /v1/stats) are read from hourly rollups that the
# periodic job refreshes this often; a read finding them older than twice this (no scheduler running)
# refreshes them first.
DELIVERY_STATS_INTERVAL_SECONDS = env.int("DELIVERY_STATS_INTERVAL_SECONDS", 60, validate=validate.Range(min=0))
# Each refresh also looks again at attempts changed this long before the previous one began: a
# transaction still open then is written by now (no transaction here lasts that long).
DELIVERY_STATS_OVERLAP_SECONDS = env.int("DELIVERY_STATS_OVERLAP_SECONDS", 300, validate=validate.Range(min=0))
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
