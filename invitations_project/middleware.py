from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from invitations_project.errors import (
    ApiError,
    HeadersTooLarge,
    InvalidRequest,
    PayloadTooLarge,
    UriTooLong,
    json_error,
)

# Well under what any HTTP server in front of us accepts (gunicorn: 4094-byte request line, 8190-byte
# header fields), so whatever reaches the application is answered with the envelope.
MAX_URL_LENGTH = 4000
MAX_HEADER_BYTES = 8000


def _limits_error(request) -> ApiError | None:
    if len(request.path) + len(request.META.get("QUERY_STRING", "")) > MAX_URL_LENGTH:
        return UriTooLong(f"The URL is longer than {MAX_URL_LENGTH} characters.")
    if any(
        key.startswith("HTTP_") and isinstance(value, str) and len(value) > MAX_HEADER_BYTES
        for key, value in request.META.items()
    ):
        return HeadersTooLarge(f"A request header is longer than {MAX_HEADER_BYTES} bytes.")
    raw_length = request.META.get("CONTENT_LENGTH") or "0"
    try:
        length = int(raw_length)
    except ValueError:
        return InvalidRequest("The Content-Length header is not a number.")
    if length > settings.API_MAX_BODY_BYTES:
        return PayloadTooLarge(f"The request body is larger than {settings.API_MAX_BODY_BYTES} bytes.")
    return None


class ApiRequestLimitsMiddleware:
    """Refuse an API or webhook request whose URL, a header or the body is too large, before
    anything reads it, with the envelope."""

    PREFIXES = ("/v1/", "/webhooks/")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith(self.PREFIXES):
            error = _limits_error(request)
            if error is not None:
                return json_error(error)
        return self.get_response(request)


JOB_DASHBOARD_PERMISSION = "django_rq.admin"


class AdminGuardMiddleware:
    """Every admin URL, django-rq's pages included, behind the same rules as the admin itself.

    - With ADMIN_OTP_REQUIRED, a signed-in user whose session was not verified with a TOTP code (a
      session made before two-factor was switched on, say) is sent to the login page, whatever admin
      URL it asks for: django-otp's admin site checks only its own views, not /admin/rq/.
    - django-rq's pages (the /admin/rq/ dashboard and its admin entry) let in any staff user; these
      show and delete jobs, so they need a superuser or django-rq's own "Access admin page"
      permission.

    Anonymous visitors go on to the views, which send them to the login page (or, for the stats and
    metrics endpoints, check django-rq's API token).
    """

    ADMIN_PREFIX = "/admin/"
    OPEN_PATHS = ("/admin/login/", "/admin/logout/")
    JOB_DASHBOARD_PREFIXES = ("/admin/rq/", "/admin/django_rq/")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path
        if path.startswith(self.ADMIN_PREFIX) and request.user.is_authenticated:
            user = request.user
            if settings.ADMIN_OTP_REQUIRED and not path.startswith(self.OPEN_PATHS) and not user.is_verified():
                return redirect_to_login(request.get_full_path(), login_url=reverse("admin:login"))
            if path.startswith(self.JOB_DASHBOARD_PREFIXES) and not (
                user.is_superuser or user.has_perm(JOB_DASHBOARD_PERMISSION)
            ):
                raise PermissionDenied
        return self.get_response(request)
