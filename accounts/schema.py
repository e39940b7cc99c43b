"""How the authentication classes appear in the OpenAPI description (drf-spectacular)."""

from typing import Any

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import serializers

from accounts.models import Membership


class PrivateKeySchemes(OpenApiAuthenticationExtension):
    """A private key, sent either as a bearer token or as the HTTP Basic user name."""

    target_class = "accounts.authentication.PrivateKeyAuthentication"
    name = ["PrivateKey", "PrivateKeyBasic"]

    def get_security_definition(self, auto_schema):
        return [
            {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "private_<secret> (live) or private_sandbox_<secret> (sandbox)",
                "description": "A private API key. The key picks the mode: sandbox keys see and make only "
                "sandbox invitations, and nothing they do is billed.",
            },
            {
                "type": "http",
                "scheme": "basic",
                "description": "The same private key as the HTTP Basic user name, with an empty password.",
            },
        ]

    def get_security_requirement(self, auto_schema):
        # Either scheme alone is enough (OR), not both together.
        return [{"PrivateKey": []}, {"PrivateKeyBasic": []}]


class JwtAuthScheme(OpenApiAuthenticationExtension):
    """A dashboard user's short-lived JWT; lists JwtAuth on operations once the class is installed."""

    target_class = "accounts.authentication.JwtAuthentication"
    optional = True
    name = "JwtAuth"

    def get_security_definition(self, auto_schema):
        # One definition, in SPECTACULAR_SETTINGS, declared even before the class exists.
        spectacular: dict[str, Any] = settings.SPECTACULAR_SETTINGS
        return spectacular["APPEND_COMPONENTS"]["securitySchemes"]["JwtAuth"]


class TokenPairSchema(serializers.Serializer):
    """What POST /v1/auth/token and /v1/auth/token/refresh answer (built by ``apis.token_pair_to_dict``)."""

    accessToken = serializers.CharField(help_text="A signed JWT; send it as Authorization: Bearer.")
    tokenType = serializers.ChoiceField(choices=["Bearer"])
    expiresIn = serializers.IntegerField(min_value=1, help_text="Seconds the access token is valid.")
    refreshToken = serializers.CharField(help_text="Exchanged at /v1/auth/token/refresh for a new pair.")
    refreshExpiresIn = serializers.IntegerField(min_value=1)
    organization = serializers.CharField(help_text="The organization's slug the tokens act for.")
    role = serializers.ChoiceField(choices=Membership.Role.choices)
    livemode = serializers.BooleanField(help_text="Dashboard tokens always act in live mode.")

    class Meta:
        ref_name = "TokenPair"
