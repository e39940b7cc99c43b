"""The invitation's public shape as the OpenAPI description shows it.

``serializers.invitation_to_dict`` builds the real responses; a test keeps the two in step.
"""

from drf_spectacular.extensions import OpenApiSerializerExtension, OpenApiSerializerFieldExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter
from rest_framework import serializers

from invitations.models import Invitation
from invitations_project.validators import LOCALE_RE


class InvitationSchema(serializers.Serializer):
    token = serializers.CharField(help_text="Public id, adi_…; path parameters accept it with or without the prefix.")
    status = serializers.ChoiceField(choices=Invitation.Status.choices)
    channel = serializers.ChoiceField(choices=Invitation.Channel.choices)
    recipient = serializers.CharField(help_text="An email address, or an E.164 phone number for sms.")
    workflowToken = serializers.CharField(help_text="Which verification flow the link starts.")  # noqa: N815
    reference = serializers.CharField(help_text="The caller's own id, echoed back; may be empty.", allow_blank=True)
    locale = serializers.CharField()
    deliveryAttempts = serializers.IntegerField(  # noqa: N815
        min_value=1, help_text="The initial send plus each accepted resend; automatic retries do not count."
    )
    errorMessage = serializers.CharField(allow_null=True, help_text="The last delivery error, when failed.")  # noqa: N815
    dossierToken = serializers.CharField(allow_null=True, help_text="Set once the recipient starts.")  # noqa: N815
    livemode = serializers.BooleanField(help_text="False when created with a sandbox key.")
    link = serializers.URLField(help_text="What the recipient clicks.")
    createdAt = serializers.DateTimeField()  # noqa: N815
    sentAt = serializers.DateTimeField(allow_null=True)  # noqa: N815
    deliveredAt = serializers.DateTimeField(allow_null=True)  # noqa: N815
    openedAt = serializers.DateTimeField(allow_null=True)  # noqa: N815
    startedAt = serializers.DateTimeField(allow_null=True)  # noqa: N815
    completedAt = serializers.DateTimeField(allow_null=True)  # noqa: N815
    rejectedAt = serializers.DateTimeField(allow_null=True)  # noqa: N815
    expiresAt = serializers.DateTimeField()  # noqa: N815

    class Meta:
        ref_name = "Invitation"


class PaginationSchema(serializers.Serializer):
    total = serializers.IntegerField(min_value=0)
    totalPages = serializers.IntegerField(min_value=0)  # noqa: N815
    page = serializers.IntegerField(min_value=1)
    perPage = serializers.IntegerField(min_value=1, max_value=100)  # noqa: N815

    class Meta:
        ref_name = "Pagination"


class InvitationPageSchema(serializers.Serializer):
    data = InvitationSchema(many=True)
    pagination = PaginationSchema()

    class Meta:
        ref_name = "InvitationPage"


TOKEN_PARAMETER = OpenApiParameter(
    "token",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="The invitation's token, adi_xxx, or its raw xxx part.",
)

IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    "Idempotency-Key",
    {"type": "string", "maxLength": 255},
    OpenApiParameter.HEADER,
    description="Makes creation safe to retry: a repeated request with the same key and parameters returns the "
    "invitation the first one made. An empty value is the same as no key.",
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
        properties["locale"].update(pattern=LOCALE_RE.pattern, description="A language tag such as en or pt-BR.")
        # Unknown fields are refused (400), so the description must not allow them.
        schema["additionalProperties"] = False
        return schema


class DateBoundScheme(OpenApiSerializerFieldExtension):
    """date_from / date_to take a date or an ISO 8601 datetime."""

    target_class = "invitations.serializers.BoundField"

    def map_serializer_field(self, auto_schema, direction):
        return {"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]}
