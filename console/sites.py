"""The support console's admin site: Django's, with django-otp's two-factor login when
ADMIN_OTP_REQUIRED is on (read at each request, so turning it on applies to sessions made before)."""

from django.conf import settings
from django.contrib.admin import AdminSite
from django_otp.admin import OTPAdminAuthenticationForm, OTPAdminSite


class ConsoleAdminSite(AdminSite):
    site_header = "Invitations support console"
    site_title = "Invitations support"
    index_title = "Support console"

    def has_permission(self, request) -> bool:
        # With two-factor, a password alone is not enough: the session must be verified with a code.
        verified = not settings.ADMIN_OTP_REQUIRED or request.user.is_verified()
        return super().has_permission(request) and verified

    def login(self, request, extra_context=None):
        # The login page asks for the code only while two-factor is required.
        self.login_form = OTPAdminAuthenticationForm if settings.ADMIN_OTP_REQUIRED else None
        self.login_template = OTPAdminSite.login_template if settings.ADMIN_OTP_REQUIRED else None
        return super().login(request, extra_context)
