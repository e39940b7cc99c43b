import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import Organization
from accounts.services import api_key_create, organization_create
from invitations.services import workflow_get_default


class Command(BaseCommand):
    help = "Make a first run usable: a demo organization, an admin login and a sandbox key, printed."

    def add_arguments(self, parser):
        parser.add_argument("--slug", default="demo")
        parser.add_argument("--admin-username", default="admin")
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")

    def handle(self, *args, slug: str, admin_username: str, base_url: str, **options):
        User = get_user_model()
        password = secrets.token_urlsafe(12)
        with transaction.atomic():
            organization = Organization.objects.filter(slug=slug).first() or organization_create(
                slug=slug, name="Demo organization"
            )
            workflow_get_default(organization=organization)
            user = User.objects.filter(username=admin_username).first()
            if user is None:
                user = User.objects.create_superuser(admin_username, f"{admin_username}@example.com", password)
            else:
                user.set_password(password)
                user.save(update_fields=["password"])
            user.user_permissions.add(Permission.objects.get(codename="resend_invitation"))
            _, sandbox_key = api_key_create(organization=organization, livemode=False, name="demo sandbox")
        self.stdout.write(
            "\n".join(
                [
                    "",
                    f"  Admin:        {base_url}/admin/",
                    f"  Login:        {admin_username} / {password}",
                    f"  Sandbox key:  {sandbox_key}",
                    "  Try:          curl -s -X POST "
                    f"{base_url}/v1/autodoc/invitations -H 'Authorization: Bearer {sandbox_key}'"
                    " -H 'Content-Type: application/json'"
                    """ -d '{"channel": "email", "recipient": "ana@example.com"}'""",
                    "",
                ]
            )
        )
