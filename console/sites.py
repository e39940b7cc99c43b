"""The support console's admin site: Django's, with django-otp's two-factor login when
ADMIN_OTP_REQUIRED is on (read at each request, so turning it on applies to sessions made before)."""

from django.conf import settings
from django.contrib.admin import AdminSite
from django_otp.admin import OTPAdminAuthenticationForm, OTPAdminSite

# What the console calls the apps whose own names are package names ("Axes", "Otp_Totp").
APP_NAMES = {
    "axes": "Login lockouts",
    "otp_totp": "Two-factor devices",
    "auth": "Staff users and groups",
}
# Apps listed elsewhere: the job queues have their one entry under Operations (admin/index.html).
HIDDEN_APPS = frozenset({"django_rq"})


class ConsoleAdminSite(AdminSite):
    site_header = "Invitations support console"
    site_title = "Invitations support"
    index_title = "Support console"
    # The service has no public site of its own to view: no "View site" link.
    site_url = None

    def has_permission(self, request) -> bool:
        # With two-factor, a password alone is not enough: the session must be verified with a code.
        verified = not settings.ADMIN_OTP_REQUIRED or request.user.is_verified()
        return super().has_permission(request) and verified

    def get_app_list(self, request, app_label=None):
        apps = [app for app in super().get_app_list(request, app_label) if app["app_label"] not in HIDDEN_APPS]
        for app in apps:
            app["name"] = APP_NAMES.get(app["app_label"], app["name"])
        return apps

    def login(self, request, extra_context=None):
        # The login page asks for the code only while two-factor is required.
        self.login_form = OTPAdminAuthenticationForm if settings.ADMIN_OTP_REQUIRED else None
        self.login_template = OTPAdminSite.login_template if settings.ADMIN_OTP_REQUIRED else None
        return super().login(request, extra_context)
