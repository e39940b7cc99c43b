"""Make (or update) a support console login: `manage.py create_support_user ana@example.com`.

The user is staff and a member of the "Support" group, which this command keeps holding exactly the
support permissions: read invitations, their sends, events and request log; resend, correct and
cancel invitations; lift suppressions; redeliver webhook events. No superuser rights, no keys, no
prices. A new user without --password gets a generated one, shown once.
"""

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Q

SUPPORT_GROUP = "Support"
# What a support agent may see (view_*) in these apps, and may do besides.
SUPPORT_VIEWS = ("invitations", "delivery", "suppressions", "webhooks", "requestlog")
SUPPORT_ACTIONS = (
    ("invitations", "resend_invitation"),
    ("invitations", "cancel_invitation"),
    ("invitations", "change_invitation"),
    ("suppressions", "delete_suppression"),
    ("webhooks", "change_endpoint"),
)


def support_permissions():
    actions = Q()
    for app_label, codename in SUPPORT_ACTIONS:
        actions |= Q(content_type__app_label=app_label, codename=codename)
    views = Q(content_type__app_label__in=SUPPORT_VIEWS, codename__startswith="view_")
    return Permission.objects.filter(actions | views)


class Command(BaseCommand):
    help = "Create or update a staff login for the support console, in the Support group."

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("--password", help="Set this password. A new user without one gets a generated password.")

    @transaction.atomic
    def handle(self, *args, email: str, password: str | None, **options):
        email = email.strip()
        try:
            validate_email(email)
        except ValidationError as exc:
            raise CommandError(f"{email!r} is not an email address.") from exc
        group, _ = Group.objects.get_or_create(name=SUPPORT_GROUP)
        group.permissions.set(support_permissions())
        users = get_user_model().objects
        user = users.filter(email__iexact=email).first()
        created = user is None
        if user is None:
            user = users.create_user(username=email.lower(), email=email)
        generated = None
        if password is None and created:
            generated = password = secrets.token_urlsafe(12)
        if password is not None:
            user.set_password(password)
        user.is_staff = True
        user.is_active = True
        user.save()
        user.groups.add(group)
        self.stdout.write(
            f"{user.email} can sign in to the support console ({'new user' if created else 'updated'}; "
            f"group {SUPPORT_GROUP}, {group.permissions.count()} permissions)."
        )
        if generated:
            self.stderr.write("The new user's password is shown once; store it now.")
            self.stdout.write(f"Password: {generated}")
