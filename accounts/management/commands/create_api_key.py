"""`manage.py create_api_key SLUG [--sandbox]`: a live (or sandbox) key, its secret printed once."""

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Organization
from accounts.principals import Actor
from accounts.services import api_key_create


class Command(BaseCommand):
    help = "Create a private API key for an organization and print it once."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--sandbox", action="store_true", help="A test key: sandbox mode, never billed.")
        parser.add_argument("--name", default="")

    def handle(self, *args, slug: str, sandbox: bool, name: str, **options):
        organization = Organization.objects.filter(slug=slug).first()
        if organization is None:
            raise CommandError(f"No organization {slug!r}.")
        _, raw_key = api_key_create(
            organization=organization, livemode=not sandbox, name=name, actor=Actor.for_command("create_api_key")
        )
        self.stderr.write("This key is shown once; store it now.")
        self.stdout.write(raw_key)
