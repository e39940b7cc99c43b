"""Every admin URL, django-rq's included, behind the console's rules."""

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.urls import reverse

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
