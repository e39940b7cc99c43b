"""The request log's entries as GET /v1/requests shows them."""

from rest_framework import serializers


class CredentialSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["api_key", "jwt"], source="credential_kind")
    # DRF's stubs take a field named label for the serializer's own `label` attribute.
    label = serializers.CharField(source="credential_label", help_text="The key's visible prefix or the user's email.")  # type: ignore[assignment]


class RequestLogEntrySerializer(serializers.Serializer):
    id = serializers.CharField(source="public_id", help_text="req_…, as the answer's Request-Id said.")
    createdAt = serializers.DateTimeField(source="created_at")
    method = serializers.CharField()
    path = serializers.CharField()
    status = serializers.IntegerField()
    errorType = serializers.SerializerMethodField(method_name="error_type_or_null")
    durationMs = serializers.IntegerField(source="duration_ms")
    userAgent = serializers.CharField(source="user_agent", allow_blank=True)
    ip = serializers.CharField()
    credential = CredentialSerializer(source="*")
    idempotencyKey = serializers.SerializerMethodField(method_name="idempotency_key_or_null")

    class Meta:
        ref_name = "RequestLogEntry"

    def error_type_or_null(self, entry) -> str | None:
        return entry.error_type or None

    def idempotency_key_or_null(self, entry) -> str | None:
        return entry.idempotency_key or None
