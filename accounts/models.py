"""Tenants and who acts for them: Organization (with its reminder defaults), ApiKey (stored as a
hash, live or sandbox), Membership (a dashboard user's role), RefreshToken (known by its id, never
stored), SandboxRecipient (where sandbox sends really go) and AccountEvent (their audit)."""

import hashlib

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models


class ActorKind(models.TextChoices):
    """Who an audit row, a send or an account event names (API.md's actor kinds)."""

    API_KEY = "api_key"
    USER = "user"  # a dashboard user, through a JWT
    STAFF = "staff"  # a support agent in the admin, or an operator naming themselves with --user
    COMMAND = "command"  # an operator's management command
    SYSTEM = "system"  # the service itself: a worker, the sweeper, a provider's report
    RECIPIENT = "recipient"  # the person invited, following their link


def validate_reminder_hours(value: float) -> None:
    if not settings.REMINDER_MIN_HOURS <= value <= 24 * 365:
        raise ValidationError(f"Between {settings.REMINDER_MIN_HOURS:g} and {24 * 365} hours.")


class Organization(models.Model):
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    # Automatic reminders an invitation gets when its create leaves them out (API.md "Reminders").
    reminder_after_hours = models.FloatField(
        default=48,
        db_default=48,
        validators=[validate_reminder_hours],
        help_text="Hours after the last accepted send before the first reminder.",
    )
    reminder_every_hours = models.FloatField(
        default=72, db_default=72, validators=[validate_reminder_hours], help_text="Hours between later reminders."
    )
    reminder_max = models.PositiveSmallIntegerField(
        default=0, db_default=0, help_text="How many reminders an invitation gets by default; 0 sends none."
    )
    # The expiry warning an invitation gets when its create leaves expiryWarning out (API.md "Expiry").
    expiry_warning_before_hours = models.FloatField(
        null=True,
        blank=True,
        validators=[validate_reminder_hours],
        help_text="Hours before expiresAt to warn that the link expires; empty sends no warning.",
    )

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class ApiKey(models.Model):
    """A private key. The secret is shown once; only its SHA-256 and a visible prefix are kept.

    Keys are 190+ bits of randomness, so a fast hash is enough: there is nothing to brute-force.
    """

    LIVE_PREFIX = "private_"
    SANDBOX_PREFIX = "private_sandbox_"
    VISIBLE_CHARS = 6

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, blank=True)
    livemode = models.BooleanField()
    prefix = models.CharField(max_length=40, help_text="The start of the key, enough to recognise it.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.organization.slug})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @staticmethod
    def hash_secret(raw_key: str) -> str:
        return hashlib.sha256(raw_key.encode()).hexdigest()


class Membership(models.Model):
    """A dashboard user's role in one organization."""

    class Role(models.TextChoices):
        OWNER = "owner"
        ADMIN = "admin"
        AGENT = "agent"
        VIEWER = "viewer"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.AGENT)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "organization"], name="membership_unique_user_org"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} ({self.role})"


class RefreshToken(models.Model):
    """One refresh token issued, known by its ``jti``; the token itself is never stored.

    Every token that descends from one login shares a ``family``. Using a token marks it used and
    issues the next of the family; a used token presented again means a copy is in someone else's
    hands, so the whole family is revoked and the user must log in again.
    """

    jti = models.CharField(max_length=64, unique=True)
    family = models.CharField(max_length=64, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"refresh token {self.jti[:8]}… of family {self.family[:8]}…"


class SandboxRecipient(models.Model):
    """An address a sandbox send really goes to. Every other sandbox send is simulated: no message
    leaves, so a sandbox key can neither spend money nor reach strangers."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="sandbox_recipients")
    recipient = models.CharField(
        max_length=254, help_text="An email address, or a phone number (stored in E.164 form, like +14155550123)."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["recipient"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "recipient"], name="sandbox_recipient_unique"),
        ]

    def __str__(self) -> str:
        return self.recipient


class AccountEvent(models.Model):
    """The audit trail of accounts: who made or revoked a key, who gave whom which role."""

    class Action(models.TextChoices):
        ORGANIZATION_CREATED = "organization_created"
        API_KEY_CREATED = "api_key_created"
        API_KEY_REVOKED = "api_key_revoked"
        MEMBERSHIP_SET = "membership_set"
        MEMBERSHIP_REMOVED = "membership_removed"
        WEBHOOK_ENDPOINT_DELETED = "webhook_endpoint_deleted"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="account_events")
    action = models.CharField(max_length=32, choices=Action.choices)
    target = models.CharField(
        max_length=254, help_text="The key's visible prefix, the member's email, or the endpoint's id."
    )
    detail = models.CharField(max_length=200, blank=True)
    actor_kind = models.CharField(max_length=16, choices=ActorKind.choices)
    actor_label = models.CharField(max_length=200)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} {self.target} by {self.actor_label}"
