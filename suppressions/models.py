"""Recipients that must not be contacted, per organization and mode: filled from the providers'
reports (a hard bounce, a complaint, an opt-out, a number that cannot take SMS) or by hand."""

import secrets
import string

from django.db import models
from django.db.models import Q

from accounts.models import ActorKind, Organization

_ALPHABET = string.ascii_letters + string.digits
# The provider's words are a sentence or two: anything longer is cut (API.md: 1 KB at most).
DESCRIPTION_MAX = 1024


def new_suppression_id() -> str:
    return "sup_" + "".join(secrets.choice(_ALPHABET) for _ in range(24))


class Suppression(models.Model):
    """One recipient that a send must not reach. Lifting it keeps the row (who lifted it, when):
    only rows not lifted suppress, at most one per organization, mode, channel and recipient."""

    class Reason(models.TextChoices):
        HARD_BOUNCE = "hard_bounce", "hard bounce"
        COMPLAINT = "complaint", "spam complaint"
        UNSUBSCRIBED = "unsubscribed", "unsubscribed (opted out)"
        INVALID_NUMBER = "invalid_number", "number cannot take SMS"
        MANUAL = "manual", "added by hand"

    class Channel(models.TextChoices):
        EMAIL = "email"
        SMS = "sms"

    public_id = models.CharField(max_length=40, unique=True, default=new_suppression_id, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="suppressions")
    livemode = models.BooleanField()
    channel = models.CharField(max_length=8, choices=Channel.choices)
    # As compared: an email address lower-cased whole, a phone number in E.164.
    recipient = models.CharField(max_length=254)
    reason = models.CharField(max_length=16, choices=Reason.choices)
    description = models.TextField(blank=True, help_text="The provider's words, or the person's note.")
    # The invitation whose send caused it (its public token), if a send did.
    invitation_token = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField()
    created_by_kind = models.CharField(max_length=16, choices=ActorKind.choices)
    created_by_label = models.CharField(max_length=200)
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by_kind = models.CharField(max_length=16, blank=True, choices=ActorKind.choices)
    lifted_by_label = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # Also the index every send's check reads.
            models.UniqueConstraint(
                fields=["organization", "livemode", "channel", "recipient"],
                condition=Q(lifted_at__isnull=True),
                name="suppression_one_active",
            ),
        ]
        indexes = [
            models.Index(
                fields=["organization", "livemode", "-created_at", "-id"],
                condition=Q(lifted_at__isnull=True),
                name="suppression_org_mode_created",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.recipient} ({self.reason})"
