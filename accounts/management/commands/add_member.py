"""`manage.py add_member SLUG EMAIL --role ROLE`: a dashboard user's role in an organization's API."""

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts.models import Membership, Organization
from accounts.principals import Actor
from accounts.services import membership_upsert
from api.errors import ApiError


class Command(BaseCommand):
    help = "Give a dashboard user a role in an organization, creating the user if needed."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="The organization's slug.")
        parser.add_argument("email")
        parser.add_argument("--role", required=True, choices=Membership.Role.values)
        parser.add_argument(
            "--password", default=None, help="Set this password. A new user without one gets a generated password."
        )

    def handle(self, *args, slug: str, email: str, role: str, password: str | None, **options):
        organization = Organization.objects.filter(slug=slug).first()
        if organization is None:
            raise CommandError(f"No organization {slug!r}.")
        generated = None
        if password is None and not get_user_model().objects.filter(email__iexact=email.strip()).exists():
            generated = password = secrets.token_urlsafe(12)
        try:
            membership = membership_upsert(
                organization=organization,
                email=email,
                role=role,
                password=password,
                actor=Actor.for_command("add_member"),
            )
        except ApiError as exc:
            details = "; ".join(
                f"{field}: {' '.join(messages)}" for field, messages in exc.extra.get("fields", {}).items()
            )
            raise CommandError(f"{exc.message} {details}".strip()) from exc
        self.stdout.write(
            f"{membership.user.email} is {membership.role} in {organization.slug} (user {membership.user.username})"
        )
        if generated:
            self.stderr.write("The new user's password is shown once; store it now.")
            self.stdout.write(f"Password: {generated}")
