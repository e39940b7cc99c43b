"""A first run's demo data, made once: an organization, an admin login and a sandbox key, printed.

Only on an empty database (no user and no organization yet). Run again, on that database or any other, it changes
nothing: an existing admin keeps its password and no key is added, so restarting `scripts/serve`
never resets a login or piles up keys.
"""

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import Organization, SandboxRecipient
from accounts.principals import Actor
from accounts.services import api_key_create, organization_create
from invitations.services import workflow_get_default

BOOTSTRAP = Actor.for_command("bootstrap_demo")
# The walk-through's recipient: a sandbox send to it reaches the console, every other is simulated.
DEMO_RECIPIENT = "ana@example.com"


class Command(BaseCommand):
    help = "Make a first run usable: on an empty database, a demo organization, an admin login and a sandbox key."

    def add_arguments(self, parser):
        parser.add_argument("--slug", default="demo")
        parser.add_argument("--admin-username", default="admin")
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")

    def handle(self, *args, slug: str, admin_username: str, base_url: str, **options):
        User = get_user_model()
        password = secrets.token_urlsafe(12)
        with transaction.atomic():
            if User.objects.exists() or Organization.objects.exists():
                self.stdout.write(
                    f"\n  Admin:  {base_url}/admin/  (the database is not empty: nothing was made or changed; "
                    "`python manage.py changepassword` resets a password, `create_api_key` makes a key)\n"
                )
                return
            organization = organization_create(slug=slug, name="Demo organization", actor=BOOTSTRAP)
            workflow_get_default(organization=organization)
            SandboxRecipient.objects.create(organization=organization, recipient=DEMO_RECIPIENT)
            user = User.objects.create_superuser(admin_username, f"{admin_username}@example.com", password)
            user.user_permissions.add(Permission.objects.get(codename="resend_invitation"))
            _, sandbox_key = api_key_create(
                organization=organization, livemode=False, name="demo sandbox", actor=BOOTSTRAP
            )
        self.stdout.write(
            "\n".join(
                [
                    "",
                    f"  Admin:        {base_url}/admin/",
                    f"  Login:        {admin_username} / {password}   (shown once: keep it)",
                    f"  Sandbox key:  {sandbox_key}   (shown once: keep it)",
                    f"  Sandbox sends reach the console for {DEMO_RECIPIENT} only; others are simulated.",
                    "  Simulated stories: bounce@simulator.test, delivered@, opened@, complaint@, refused@, flaky@"
                    'simulator.test, +15005550006 (README, "Sandbox simulations").',
                    "  Try:          curl -s -X POST "
                    f"{base_url}/v1/autodoc/invitations -H 'Authorization: Bearer {sandbox_key}'"
                    " -H 'Content-Type: application/json'"
                    f""" -d '{{"channel": "email", "recipient": "{DEMO_RECIPIENT}"}}'""",
                    "",
                ]
            )
        )
