"""The suppression's public shape, its input, and the data of its webhook events."""

from rest_framework import serializers

from api.fields import NullIfBlankCharField, StrictCharField, StrictObjectSerializer
from suppressions.models import DESCRIPTION_MAX, Suppression


class SuppressionOutputSerializer(serializers.Serializer):
    id = serializers.CharField(source="public_id", help_text="sup_…")
    recipient = serializers.CharField(help_text="As compared: an email address lower-cased, or E.164.")
    channel = serializers.ChoiceField(choices=Suppression.Channel.choices)
    reason = serializers.ChoiceField(choices=Suppression.Reason.choices)
    description = serializers.CharField(allow_blank=True, help_text="The provider's words (1 KB at most).")
    invitation = NullIfBlankCharField(
        source="invitation_token", help_text="The invitation whose send caused it, or null."
    )
    createdAt = serializers.DateTimeField(source="created_at")

    class Meta:
        ref_name = "Suppression"


class SuppressionCreateInputSerializer(StrictObjectSerializer):
    recipient = StrictCharField(max_length=254, help_text="An email address, or a phone number in E.164.")
    description = StrictCharField(max_length=DESCRIPTION_MAX, required=False, allow_blank=True, default="")


class SuppressionEventDataSerializer(serializers.Serializer):
    """The `data` of suppression.created and suppression.deleted."""

    suppression = SuppressionOutputSerializer()

    class Meta:
        ref_name = "SuppressionEventData"


_OUTPUT = SuppressionOutputSerializer()


def suppression_to_dict(suppression: Suppression) -> dict:
    return _OUTPUT.to_representation(suppression)
