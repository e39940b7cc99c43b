"""The delivery timeline as the API shows it: GET /v1/autodoc/invitations/{token}/attempts."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.serializers import ActorSerializer
from api.fields import NullIfBlankCharField
from delivery.models import DeliveryAttempt
from delivery.timeline import event_at, event_type, first_event_at


def _iso(moment) -> str | None:
    return serializers.DateTimeField().to_representation(moment) if moment else None


class ProviderEventSerializer(serializers.Serializer):
    type = serializers.SerializerMethodField(method_name="type_of", help_text="delivered, opened, bounced, ...")
    at = serializers.SerializerMethodField(method_name="at_of")
    description = serializers.CharField(help_text="The provider's own words, such as a bounce's reason.")

    def type_of(self, event) -> str:
        return event_type(event)

    @extend_schema_field(OpenApiTypes.DATETIME)
    def at_of(self, event) -> str | None:
        return _iso(event_at(event))


class AttemptOutputSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    channel = serializers.CharField()
    recipient = serializers.CharField()
    status = serializers.ChoiceField(choices=DeliveryAttempt.Status.choices)
    tries = serializers.IntegerField(help_text="Provider calls made, automatic retries included.")
    provider = NullIfBlankCharField(
        help_text="Who took (or last refused) the send: anymail's ESP name in lowercase, twilio, console, simulator."
    )
    providerMessageId = serializers.CharField(source="provider_message_id", allow_blank=True)
    errorMessage = NullIfBlankCharField(source="error_message", help_text="Why this send failed, when it did.")
    requestedBy = serializers.SerializerMethodField(method_name="requested_by")
    queuedAt = serializers.DateTimeField(source="created_at")
    acceptedAt = serializers.DateTimeField(source="accepted_at", allow_null=True)
    deliveredAt = serializers.SerializerMethodField(method_name="delivered_at")
    openedAt = serializers.SerializerMethodField(method_name="opened_at")
    failedAt = serializers.DateTimeField(source="failed_at", allow_null=True)
    events = ProviderEventSerializer(source="provider_events", many=True)

    class Meta:
        ref_name = "DeliveryAttempt"

    @extend_schema_field(ActorSerializer)
    def requested_by(self, attempt) -> dict:
        return {"kind": attempt.requested_by_kind or "system", "label": attempt.requested_by_label}

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def delivered_at(self, attempt) -> str | None:
        return _iso(first_event_at(attempt, "delivered"))

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def opened_at(self, attempt) -> str | None:
        return _iso(first_event_at(attempt, "opened"))
