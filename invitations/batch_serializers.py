"""The batch create's request and answer (POST /v1/autodoc/invitations/batch)."""

from django.conf import settings
from rest_framework import serializers

from api.fields import StrictListField, StrictObjectSerializer
from invitations.serializers import InvitationCreateInputSerializer, InvitationOutputSerializer


class BatchCreateInputSerializer(StrictObjectSerializer):
    invitations = StrictListField(
        child=serializers.JSONField(),
        help_text="1 to BATCH_CREATE_MAX (500) create bodies, each checked as its own create would be.",
    )

    def validate_invitations(self, value: list) -> list:
        if not 1 <= len(value) <= settings.BATCH_CREATE_MAX:
            raise serializers.ValidationError(f"Give 1 to {settings.BATCH_CREATE_MAX} invitations.")
        return value


class BatchCreateDescribedInputSerializer(serializers.Serializer):
    """The batch's body as the schema describes it: each item is a create's body. (Items are read one
    by one, each answered on its own: ``BatchCreateInputSerializer`` takes them as they come.)"""

    invitations = InvitationCreateInputSerializer(many=True, help_text="1 to BATCH_CREATE_MAX (500) create bodies.")

    class Meta:
        ref_name = "BatchCreateInput"


class BatchItemErrorSerializer(serializers.Serializer):
    type = serializers.CharField()
    message = serializers.CharField()

    class Meta:
        ref_name = "BatchItemError"


class BatchItemSerializer(serializers.Serializer):
    index = serializers.IntegerField(min_value=0, help_text="The item's place in the request's list.")
    status = serializers.IntegerField(help_text="201, or the status its own create would have answered.")
    invitation = InvitationOutputSerializer(required=False, help_text="The invitation made (status 201).")
    error = BatchItemErrorSerializer(required=False, help_text="The error its own create would have answered.")

    class Meta:
        ref_name = "BatchCreateItem"


class BatchCreateResultSerializer(serializers.Serializer):
    # DRF's stubs take a field named data for the serializer's own `data` attribute.
    data = BatchItemSerializer(many=True)  # type: ignore[assignment]
    created = serializers.IntegerField(min_value=0)
    failed = serializers.IntegerField(min_value=0)

    class Meta:
        ref_name = "BatchCreateResult"
