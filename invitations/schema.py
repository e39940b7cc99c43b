"""The OpenAPI description's extras for invitations: parameters, examples, and how the strict input
fields are described. The invitation's shape itself is ``serializers.InvitationOutputSerializer``."""

from drf_spectacular.extensions import OpenApiSerializerExtension, OpenApiSerializerFieldExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter
from rest_framework import serializers

from api.openapi import strict_object_schema
from api.validators import LOCALE_RE
from invitations.models import Invitation
from invitations.serializers import LOCALE_HELP

TOKEN_PARAMETER = OpenApiParameter(
    "token",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="The invitation's token, adi_xxx, or its raw xxx part.",
)

CREATE_EXAMPLES = [
    OpenApiExample(
        "By email",
        value={"channel": "email", "recipient": "ana@example.com", "reference": "crm-4711", "locale": "en"},
        request_only=True,
    ),
    OpenApiExample(
        "By SMS", value={"channel": "sms", "recipient": "+14155550123", "locale": "pt-BR"}, request_only=True
    ),
]


class InvitationCreateInputScheme(OpenApiSerializerExtension):
    """The create body as the service checks it: known fields only, channel from the enum."""

    target_class = "invitations.serializers.InvitationCreateInputSerializer"

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        properties = schema["properties"]
        properties["channel"] = auto_schema._map_serializer_field(
            serializers.ChoiceField(choices=Invitation.Channel.choices), direction
        )
        properties["recipient"]["description"] = "An email address, or for sms a phone number in E.164 form."
        properties["workflowToken"]["description"] = "Defaults to the organization's default workflow."
        properties["reference"]["description"] = "Your own id, echoed back and filterable."
        properties["locale"].update(pattern=LOCALE_RE.pattern, description=LOCALE_HELP)
        return strict_object_schema(self.target, schema)


class DateBoundScheme(OpenApiSerializerFieldExtension):
    """date_from / date_to take a date or an ISO 8601 datetime."""

    target_class = "api.fields.BoundField"

    def map_serializer_field(self, auto_schema, direction):
        return {"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]}
