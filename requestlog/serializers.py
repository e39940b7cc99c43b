from rest_framework import serializers

from api.fields import BoundField, SingleValuedQuerySerializer


class RequestLogQuerySerializer(SingleValuedQuerySerializer):
    page = serializers.IntegerField(min_value=1, max_value=10_000_000, default=1)
    per_page = serializers.IntegerField(min_value=1, max_value=100, default=20)
    status = serializers.IntegerField(min_value=100, max_value=599, required=False)
    method = serializers.ChoiceField(choices=["GET", "POST", "PATCH", "PUT", "DELETE"], required=False)
    path = serializers.CharField(max_length=200, required=False, allow_blank=True)
    invitation = serializers.CharField(max_length=64, required=False, allow_blank=True)
    date_from = BoundField(upper=False, required=False)
    date_to = BoundField(upper=True, required=False)


class CredentialSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["api_key", "jwt"], source="credential_kind")
    label = serializers.CharField(source="credential_label", help_text="The key's visible prefix or the user's email.")


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
