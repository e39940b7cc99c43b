"""Input of the auth endpoints: JSON strings only, camelCase names, unknown fields refused."""

from invitations_project.fields import StrictCharField, StrictObjectSerializer


class TokenInputSerializer(StrictObjectSerializer):
    email = StrictCharField(max_length=254)
    password = StrictCharField(max_length=4096, trim_whitespace=False)
    organization = StrictCharField(max_length=64, help_text="The organization's slug.")


class TokenRefreshInputSerializer(StrictObjectSerializer):
    refreshToken = StrictCharField(max_length=8192)
