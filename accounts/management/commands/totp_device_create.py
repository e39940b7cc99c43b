"""Give a staff user a TOTP device for the admin's two-factor login (ADMIN_OTP_REQUIRED=1)."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django_otp.plugins.otp_totp.models import TOTPDevice


class Command(BaseCommand):
    help = (
        "Create a TOTP device for a staff user and print its otpauth:// URL once, to add to an "
        "authenticator app. Do it for every staff user before turning on ADMIN_OTP_REQUIRED."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="authenticator", help="A name for the device (default: authenticator).")

    def handle(self, *args, username: str, name: str, **options):
        user = get_user_model().objects.filter(username=username, is_staff=True, is_active=True).first()
        if user is None:
            raise CommandError(f"No active staff user {username!r}.")
        if TOTPDevice.objects.filter(user=user, name=name).exists():
            raise CommandError(f"{username} already has a device named {name!r}; pick another --name.")
        device = TOTPDevice.objects.create(user=user, name=name, confirmed=True)
        self.stdout.write(
            f"TOTP device {name!r} created for {username}. Add this URL to an authenticator app (shown once):\n"
            f"{device.config_url}"
        )
