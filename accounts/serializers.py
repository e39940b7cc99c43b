"""Input of the auth endpoints: JSON strings only, camelCase names, unknown fields refused."""

from rest_framework import serializers


class StrictCharField(serializers.CharField):
    def to_internal_value(self, data):
        if not isinstance(data, str):
            raise serializers.ValidationError("Must be a string.", code="wrong_type")
        return super().to_internal_value(data)


class StrictObjectSerializer(serializers.Serializer):
    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError(
                {"non_field_errors": ["The body must be a JSON object."]}, code="not_a_dict"
            )
        unknown = sorted(set(data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError(
                {name: [serializers.ErrorDetail("Unknown field.", code="unknown_field")] for name in unknown}
            )
        return super().to_internal_value(data)


class TokenInputSerializer(StrictObjectSerializer):
    email = StrictCharField(max_length=254)
    password = StrictCharField(max_length=4096, trim_whitespace=False)
    organization = StrictCharField(max_length=64, help_text="The organization's slug.")


class TokenRefreshInputSerializer(StrictObjectSerializer):
    refreshToken = StrictCharField(max_length=8192)  # noqa: N815
