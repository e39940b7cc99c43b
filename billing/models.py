"""Prices (per organization, or the default) and BillingEvent: one row per accepted live send, at
the price of that moment, unique by its source so a send is never billed twice."""

from django.db import models
from django.db.models import Q

from accounts.models import Organization


class EventType(models.TextChoices):
    SEND_EMAIL = "send.email"
    SEND_SMS = "send.sms"


class Price(models.Model):
    """The price of one billable event; a row with an organization overrides the default row."""

    event_type = models.CharField(max_length=32, choices=EventType.choices)
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.CASCADE, related_name="prices"
    )
    amount = models.DecimalField(max_digits=12, decimal_places=4)
    currency = models.CharField(max_length=3, default="EUR")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["event_type"], condition=Q(organization__isnull=True), name="price_one_default_per_type"
            ),
            models.UniqueConstraint(
                fields=["event_type", "organization"],
                condition=Q(organization__isnull=False),
                name="price_one_override_per_org_type",
            ),
        ]

    def __str__(self) -> str:
        who = self.organization.slug if self.organization is not None else "default"
        return f"{self.event_type} {self.amount} {self.currency} ({who})"


class BillingEvent(models.Model):
    """One accepted live send. Unique per source (a delivery attempt), so retries bill once."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="billing_events")
    event_type = models.CharField(max_length=32, choices=EventType.choices)
    source_id = models.CharField(max_length=64, unique=True, help_text="What was billed, e.g. attempt:123.")
    reference = models.CharField(max_length=64, blank=True, help_text="The invitation token.")
    amount = models.DecimalField(max_digits=12, decimal_places=4)
    currency = models.CharField(max_length=3)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organization", "event_type", "created_at"], name="billing_org_type_time")]

    def __str__(self) -> str:
        return f"{self.event_type} {self.amount} {self.currency} for {self.organization_id}"
