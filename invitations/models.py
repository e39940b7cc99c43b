"""Workflow (which verification flow a link starts), Invitation (its status, recipient, counters and
timestamps), InvitationEvent (the audit row of every change, with its actor and reason) and
DossierEvent (the verification flow's reports, kept once)."""

import secrets
import string

from django.conf import settings
from django.db import models
from django.db.models import Q

from accounts.models import ActorKind, ApiKey, Organization
from invitations.tokens import TOKEN_PREFIX

TOKEN_ALPHABET = string.ascii_letters + string.digits
WORKFLOW_PREFIX = "wf_"
# 24 characters of a 62-letter alphabet: about 143 random bits.
TOKEN_RANDOM_CHARS = 24


def random_token(prefix: str) -> str:
    return prefix + "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(TOKEN_RANDOM_CHARS))


def new_invitation_token() -> str:
    return random_token(TOKEN_PREFIX)


def new_workflow_token() -> str:
    return random_token(WORKFLOW_PREFIX)


class Workflow(models.Model):
    """A verification flow an invitation's link starts."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="workflows")
    token = models.CharField(max_length=40, unique=True, default=new_workflow_token, editable=False)
    name = models.CharField(max_length=200)
    flow_url = models.URLField(help_text="Where the recipient's link sends them.")
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization"], condition=Q(is_default=True), name="workflow_one_default_per_org"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.token})"


class Invitation(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        SENT = "sent"
        DELIVERED = "delivered"
        OPENED = "opened"
        STARTED = "started"
        COMPLETED = "completed"
        REJECTED = "rejected"
        FAILED = "failed"
        CANCELED = "canceled"

    class Channel(models.TextChoices):
        EMAIL = "email"
        SMS = "sms"

    token = models.CharField(max_length=40, unique=True, default=new_invitation_token, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="invitations")
    workflow = models.ForeignKey(Workflow, on_delete=models.PROTECT, related_name="invitations")
    livemode = models.BooleanField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    channel = models.CharField(max_length=8, choices=Channel.choices)
    recipient = models.CharField(max_length=254)
    reference = models.CharField(max_length=200, blank=True)
    locale = models.CharField(max_length=16, default="en")
    delivery_attempts = models.PositiveSmallIntegerField(default=1)
    error_message = models.TextField(blank=True)
    dossier_token = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    rejected_at = models.DateTimeField(null=True, blank=True)
    canceled_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()
    # When the invitation.expired event was emitted (once, by the periodic sweep).
    expiry_announced_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Automatic reminders (API.md "Reminders"): what was asked (or the organization's defaults then),
    # how many went, and when the next is due (null: none left or allowed), kept by every move.
    # Defaults in the database too: rows written by plain SQL (bulk loads) get them.
    reminder_after_hours = models.FloatField(default=48, db_default=48)
    reminder_every_hours = models.FloatField(default=72, db_default=72)
    reminder_max = models.PositiveSmallIntegerField(default=0, db_default=0)
    reminders_sent = models.PositiveSmallIntegerField(default=0, db_default=0)
    next_reminder_at = models.DateTimeField(null=True, blank=True, editable=False)
    # A scheduled first send (sendAt): when it is asked for, and, until it is queued, when it is due.
    send_at = models.DateTimeField(null=True, blank=True)
    send_due_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The one warning that the link expires (expiryWarning): how long before, when it went, and, until
    # it goes, when it is due.
    expiry_warning_before_hours = models.FloatField(null=True, blank=True)
    expiry_warning_sent_at = models.DateTimeField(null=True, blank=True, editable=False)
    expiry_warning_due_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Where a send that fails for good goes next (fallback): the other channel and its recipient.
    fallback_channel = models.CharField(max_length=8, choices=Channel.choices, blank=True, db_default="")
    fallback_recipient = models.CharField(max_length=254, blank=True, db_default="")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The list's order, id included: a page's ids are read from the index alone.
            models.Index(fields=["organization", "livemode", "-created_at", "-id"], name="inv_org_mode_created_id"),
            models.Index(fields=["organization", "livemode", "status"], name="inv_org_mode_status"),
            models.Index(fields=["organization", "reference"], name="inv_org_reference"),
            models.Index(
                fields=["expires_at"], condition=Q(expiry_announced_at__isnull=True), name="inv_expiry_unannounced"
            ),
            # The reminder sweep's scan: only invitations with a reminder ahead are in it.
            models.Index(
                fields=["next_reminder_at"], condition=Q(next_reminder_at__isnull=False), name="inv_reminder_due"
            ),
            # The schedule sweep's scan: only the scheduled sends not yet queued are in it.
            models.Index(fields=["send_due_at"], condition=Q(send_due_at__isnull=False), name="inv_send_due"),
            models.Index(
                fields=["expiry_warning_due_at"],
                condition=Q(expiry_warning_due_at__isnull=False),
                name="inv_expiry_warning_due",
            ),
        ]
        permissions = [
            ("resend_invitation", "Can resend invitations"),
            ("cancel_invitation", "Can cancel invitations"),
        ]

    def __str__(self) -> str:
        return self.token

    @property
    def link(self) -> str:
        return f"{settings.PUBLIC_BASE_URL}/i/{self.token}"


class InvitationEvent(models.Model):
    """The audit trail: one row per status change, with who did it and why."""

    class Reason(models.TextChoices):
        """Why an audit row was written: a move of lifecycle.TRANSITIONS, or a note that kept the status."""

        CREATED = "created"
        PROVIDER_ACCEPTED = "provider_accepted"
        RETRY_ACCEPTED = "retry_accepted"
        DELIVERY_FAILED = "delivery_failed"
        DELIVERY_FAILED_PERMANENTLY = "delivery_failed_permanently"
        RESEND = "resend"
        REMINDER = "reminder"
        EXPIRY_WARNING = "expiry_warning"
        RECIPIENT_CORRECTED = "recipient_corrected"
        CHANNEL_FALLBACK = "channel_fallback"
        DELIVERED = "delivered"
        OPENED = "opened"
        LINK_OPENED = "link_opened"
        DOSSIER_STARTED = "dossier_started"
        DOSSIER_COMPLETED = "dossier_completed"
        DOSSIER_REJECTED = "dossier_rejected"
        CANCELED = "canceled"
        # Notes: the status stays.
        DOSSIER_LINKED = "dossier_linked"
        DELIVERED_LATE = "delivered_late"
        OPENED_LATE = "opened_late"
        DETAILS_CHANGED = "details_changed"
        EXPIRY_CHANGED = "expiry_changed"

    invitation = models.ForeignKey(Invitation, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16)
    reason = models.CharField(max_length=40, choices=Reason.choices)
    message = models.TextField(blank=True)
    actor_kind = models.CharField(max_length=16, choices=ActorKind.choices)
    actor_label = models.CharField(max_length=200)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_api_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.invitation_id}: {self.from_status or '-'} → {self.to_status} ({self.reason})"


class DossierEvent(models.Model):
    """A dossier event received from the verification flow, kept once per event id."""

    class Outcome(models.TextChoices):
        APPLIED = "applied"
        IGNORED = "ignored"

    event_id = models.CharField(max_length=100, unique=True)
    invitation = models.ForeignKey(Invitation, on_delete=models.CASCADE, related_name="dossier_events")
    type = models.CharField(max_length=40)
    dossier_token = models.CharField(max_length=64, blank=True)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField()
    outcome = models.CharField(max_length=16, choices=Outcome.choices)

    class Meta:
        ordering = ["received_at", "id"]

    # Set by the service that records an event: whether its id had been recorded before.
    duplicate: bool = False

    def __str__(self) -> str:
        return f"{self.type} {self.event_id} ({self.outcome})"
