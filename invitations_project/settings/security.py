"""The support console's guards (login lockout, two-factor), HTTPS, cookies and the
Content-Security-Policy."""

from datetime import timedelta

from invitations_project.settings.base import DEBUG
from invitations_project.settings.environment import NOT_NEGATIVE, POSITIVE, _header_and_value, env

# --- Support console (Django admin) -------------------------------------------------------------
# A bulk Resend over more rows than this shows a confirmation page first (a bulk Cancel always
# does); a bulk Resend or Cancel takes at most ADMIN_RESEND_MAX_ROWS rows of its selection and says
# when it cut it, pointing at the resend_invitations command.
ADMIN_RESEND_CONFIRM_ABOVE = env.int("ADMIN_RESEND_CONFIRM_ABOVE", 10, validate=NOT_NEGATIVE)
ADMIN_RESEND_MAX_ROWS = env.int("ADMIN_RESEND_MAX_ROWS", 1000, validate=POSITIVE)

# Admin logins (django-axes): after ADMIN_LOGIN_FAILURE_LIMIT failures from one IP, or for one
# username, further logins from it or for it are refused, the right password included, until
# ADMIN_LOGIN_LOCKOUT_MINUTES have passed without another failure.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.int("ADMIN_LOGIN_FAILURE_LIMIT", 10, validate=POSITIVE)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("ADMIN_LOGIN_LOCKOUT_MINUTES", 15, validate=POSITIVE))
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_ONLY_ADMIN_SITE = True
AXES_CLIENT_IP_CALLABLE = "console.security.login_client_ip"
AXES_LOCKOUT_CALLABLE = "console.security.lockout_response"
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
SECURE_PROXY_SSL_HEADER: tuple[str, ...] | None = (
    tuple(env.list("SECURE_PROXY_SSL_HEADER", [], validate=_header_and_value)) or None
)
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
