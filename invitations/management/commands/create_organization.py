"""`manage.py create_organization SLUG [--name NAME]`: a tenant, with its default workflow."""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.models import Organization
from accounts.principals import Actor
from accounts.services import organization_create
from invitations.services import workflow_get_default


class Command(BaseCommand):
    help = "Create an organization and its default workflow."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--name", default="")

    def handle(self, *args, slug: str, name: str, **options):
        if Organization.objects.filter(slug=slug).exists():
            raise CommandError(f"Organization {slug!r} already exists.")
        with transaction.atomic():
            organization = organization_create(slug=slug, name=name, actor=Actor.for_command("create_organization"))
            workflow = workflow_get_default(organization=organization)
        self.stdout.write(f"Created organization {organization.slug} with default workflow {workflow.token}")
