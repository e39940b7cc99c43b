"""Input of the auth endpoints (JSON strings only, camelCase names, unknown fields refused), and how
an actor is shown."""

from rest_framework import serializers

from accounts.models import ActorKind
from api.fields import StrictCharField, StrictObjectSerializer


class TokenInputSerializer(StrictObjectSerializer):
    email = StrictCharField(max_length=254)
    password = StrictCharField(max_length=4096, trim_whitespace=False)
    organization = StrictCharField(max_length=64, help_text="The organization's slug.")


class TokenRefreshInputSerializer(StrictObjectSerializer):
    refreshToken = StrictCharField(max_length=8192)


class ActorSerializer(serializers.Serializer):
    """Who did something, as the timeline and the history name them: never a secret."""

    kind = serializers.ChoiceField(choices=ActorKind.choices)
    # DRF's stubs take a field named label for the serializer's own `label` attribute.
    label = serializers.CharField()  # type: ignore[assignment]
