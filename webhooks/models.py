"""The customer's outbound webhooks: endpoints, the events they are told of, and the outbox of
deliveries (one per event and endpoint) with every try."""

import secrets
import string

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from accounts.models import Organization

_ALPHABET = string.ascii_letters + string.digits


def _public_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(24))


def new_endpoint_id() -> str:
    return _public_id("we_")


def new_event_id() -> str:
    return _public_id("evt_")


class Endpoint(models.Model):
    """An HTTPS URL of an organization, in one mode, told of the event types it subscribes to."""

    public_id = models.CharField(max_length=40, unique=True, default=new_endpoint_id, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="webhook_endpoints")
    livemode = models.BooleanField()
    url = models.URLField(max_length=2000)
    # ",invitation.sent,invitation.opened," or ",*,": a substring match finds the subscribers in SQL.
    event_types = models.CharField(max_length=2000, default=",*,")
    description = models.CharField(max_length=500, blank=True)
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=200, blank=True)
    # Since when every try to it has failed (None after any success): WEBHOOK_DISABLE_AFTER_DAYS.
    failing_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organization", "livemode", "enabled"], name="endpoint_org_mode_enabled")]

    def __str__(self) -> str:
        return f"{self.public_id} {self.url}"

    @property
    def events(self) -> list[str]:
        return [name for name in self.event_types.split(",") if name]


class EndpointSecret(models.Model):
    """A signing secret; after a rotation the old one signs beside the new until ``expires_at``."""

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="secrets")
    secret = models.CharField(max_length=100, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"secret of {self.endpoint_id} from {self.created_at:%Y-%m-%d}"


class Event(models.Model):
    """Something that happened, as the customer's endpoints are told: its body is a snapshot."""

    public_id = models.CharField(max_length=40, unique=True, default=new_event_id, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="webhook_events")
    livemode = models.BooleanField()
    type = models.CharField(max_length=64)
    # What the event is about (an invitation's token), for filtering; webhooks knows nothing of it.
    subject = models.CharField(max_length=64, blank=True)
    data = models.JSONField(encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "livemode", "-created_at"], name="event_org_mode_created"),
            models.Index(fields=["organization", "subject"], name="event_org_subject"),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} {self.type}"


class WebhookDelivery(models.Model):
    """The outbox row of one event for one endpoint. Redis only carries the work."""

    class Status(models.TextChoices):
        PENDING = "pending"
        SUCCEEDED = "succeeded"
        RETRYING = "retrying"
        FAILED = "failed"

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    tries = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # Set while a dispatcher holds it; an old claim is a dispatcher that died.
    claimed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["event", "endpoint"], name="delivery_unique_event_endpoint")]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="delivery_status_due")]

    def __str__(self) -> str:
        return f"{self.event_id} → {self.endpoint_id} ({self.status})"


class WebhookTry(models.Model):
    """One HTTP try of a delivery, as the deliveries list shows it."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempts")
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="tries")
    number = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=16, choices=WebhookDelivery.Status.choices)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["endpoint", "-created_at"], name="try_endpoint_created")]

    def __str__(self) -> str:
        return f"try {self.number} of {self.delivery_id} ({self.status})"
