"""Input and output shapes of the webhooks API (camelCase in JSON)."""

from rest_framework import serializers

from api.fields import (
    BoundField,
    StrictBooleanField,
    StrictCharField,
    StrictListField,
    StrictObjectSerializer,
)
from webhooks.models import Endpoint, WebhookDelivery


class EndpointCreateInputSerializer(StrictObjectSerializer):
    url = StrictCharField(max_length=2000)
    events = StrictListField(child=StrictCharField(max_length=64), required=False, max_length=50)
    description = StrictCharField(max_length=500, required=False, allow_blank=True, default="")


class EndpointUpdateInputSerializer(StrictObjectSerializer):
    url = StrictCharField(max_length=2000, required=False)
    events = StrictListField(child=StrictCharField(max_length=64), required=False, max_length=50)
    description = StrictCharField(max_length=500, required=False, allow_blank=True)
    enabled = StrictBooleanField(required=False)


class RecoverInputSerializer(StrictObjectSerializer):
    since = BoundField(upper=False, help_text="Failed deliveries created at or after this time are sent again.")


class RedeliverInputSerializer(StrictObjectSerializer):
    endpoint = StrictCharField(max_length=40, required=False, help_text="Only to this endpoint (we_…).")


class EndpointOutputSerializer(serializers.Serializer):
    id = serializers.CharField(source="public_id", help_text="we_…")
    url = serializers.URLField()
    events = serializers.ListField(child=serializers.CharField(), help_text='Subscribed types, or ["*"].')
    description = serializers.CharField(allow_blank=True)
    enabled = serializers.BooleanField()
    disabledReason = serializers.CharField(source="disabled_reason", allow_blank=True)
    livemode = serializers.BooleanField()
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")

    class Meta:
        ref_name = "WebhookEndpoint"


class EndpointWithSecretSerializer(EndpointOutputSerializer):
    secret = serializers.CharField(help_text="whsec_…: shown only here and on rotation.")

    class Meta:
        ref_name = "WebhookEndpointWithSecret"


class SecretOutputSerializer(serializers.Serializer):
    secret = serializers.CharField(help_text="The new whsec_… secret; the previous one signs beside it for 24 h.")


class TestEventDataSerializer(serializers.Serializer):
    """The `data` of a webhook.test event."""

    endpoint = serializers.CharField(help_text="The endpoint tested (we_…).")
    message = serializers.CharField()

    class Meta:
        ref_name = "WebhookTestEventData"


class EventOutputSerializer(serializers.Serializer):
    """An event; its `data` follows its `type` (webhooks.schema describes each)."""

    id = serializers.CharField(source="public_id", help_text="evt_…")
    type = serializers.CharField()
    timestamp = serializers.DateTimeField(source="created_at")
    livemode = serializers.BooleanField()
    # DRF's stubs take a field named data for the serializer's own `data` attribute.
    data = serializers.JSONField()  # type: ignore[assignment]

    class Meta:
        ref_name = "WebhookEvent"


class TryOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    eventId = serializers.CharField(source="delivery.event.public_id")
    eventType = serializers.CharField(source="delivery.event.type")
    attempt = serializers.IntegerField(source="number")
    status = serializers.ChoiceField(choices=WebhookDelivery.Status.choices)
    responseStatus = serializers.IntegerField(source="response_status", allow_null=True)
    responseBody = serializers.CharField(source="response_body", allow_blank=True, help_text="The first 1 KB.")
    durationMs = serializers.IntegerField(source="duration_ms")
    error = serializers.CharField(allow_blank=True)
    createdAt = serializers.DateTimeField(source="created_at")
    nextAttemptAt = serializers.DateTimeField(source="next_attempt_at", allow_null=True)

    class Meta:
        ref_name = "WebhookDeliveryTry"


class QueuedSerializer(serializers.Serializer):
    queued = serializers.IntegerField(min_value=0)


def endpoint_to_dict(endpoint: Endpoint, *, secret: str | None = None) -> dict:
    body = dict(EndpointOutputSerializer(endpoint).data)
    if secret is not None:
        body["secret"] = secret
    return body
