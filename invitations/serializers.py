"""Input parsing (strict JSON types, camelCase names) and the invitation's public shape."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.serializers import ActorSerializer
from api.fields import NullIfBlankCharField, StrictCharField, StrictObjectSerializer
from api.pagination import PAGINATION_FIELDS
from invitations.languages import shipped_languages
from invitations.models import Invitation

LOCALE_HELP = (
    "A language tag (BCP 47) for the email, the SMS and the recipient's pages. Shipped: "
    + ", ".join(shipped_languages())
    + ". Matched exactly (pt-BR), then by language (pt), else English."
)


class InvitationCreateInputSerializer(StrictObjectSerializer):
    # channel and locale are codes: " email" is not "email", so they are taken as sent, not trimmed.
    channel = StrictCharField(trim_whitespace=False)
    recipient = StrictCharField(max_length=254)
    workflowToken = StrictCharField(max_length=40, required=False, allow_null=True)
    reference = StrictCharField(max_length=200, required=False, allow_blank=True, default="")
    locale = StrictCharField(max_length=16, required=False, default="en", trim_whitespace=False, help_text=LOCALE_HELP)


class InvitationOutputSerializer(serializers.Serializer):
    """The invitation as every response shows it, and as the OpenAPI description shows it."""

    token = serializers.CharField(help_text="Public id, adi_…; path parameters accept it with or without the prefix.")
    status = serializers.ChoiceField(choices=Invitation.Status.choices)
    channel = serializers.ChoiceField(choices=Invitation.Channel.choices)
    recipient = serializers.CharField(help_text="An email address, or an E.164 phone number for sms.")
    workflowToken = serializers.CharField(source="workflow.token", help_text="Which verification flow the link starts.")
    reference = serializers.CharField(help_text="The caller's own id, echoed back; may be empty.", allow_blank=True)
    locale = serializers.CharField(help_text=LOCALE_HELP)
    deliveryAttempts = serializers.IntegerField(
        source="delivery_attempts",
        min_value=1,
        help_text="The initial send plus each accepted resend; automatic retries do not count.",
    )
    errorMessage = NullIfBlankCharField(source="error_message", help_text="The last delivery error, when failed.")
    dossierToken = NullIfBlankCharField(source="dossier_token", help_text="Set once the recipient starts.")
    livemode = serializers.BooleanField(help_text="False when created with a sandbox key.")
    link = serializers.URLField(help_text="What the recipient clicks.")
    createdAt = serializers.DateTimeField(source="created_at")
    sentAt = serializers.DateTimeField(source="sent_at", allow_null=True)
    deliveredAt = serializers.DateTimeField(source="delivered_at", allow_null=True)
    openedAt = serializers.DateTimeField(source="opened_at", allow_null=True)
    startedAt = serializers.DateTimeField(source="started_at", allow_null=True)
    completedAt = serializers.DateTimeField(source="completed_at", allow_null=True)
    rejectedAt = serializers.DateTimeField(source="rejected_at", allow_null=True)
    canceledAt = serializers.DateTimeField(source="canceled_at", allow_null=True)
    expiresAt = serializers.DateTimeField(source="expires_at")

    class Meta:
        ref_name = "Invitation"


class PaginationSerializer(serializers.Serializer):
    total = PAGINATION_FIELDS["total"]
    totalPages = PAGINATION_FIELDS["totalPages"]
    page = PAGINATION_FIELDS["page"]
    perPage = PAGINATION_FIELDS["perPage"]
    totalCapped = PAGINATION_FIELDS["totalCapped"]

    class Meta:
        ref_name = "Pagination"


class InvitationPageSerializer(serializers.Serializer):
    # DRF's stubs take a field named data for the serializer's own `data` attribute.
    data = InvitationOutputSerializer(many=True)  # type: ignore[assignment]
    pagination = PaginationSerializer()

    class Meta:
        ref_name = "InvitationPage"


# One instance, its fields built once: a serializer copies its declared fields each time it is
# made, which cost more than the representation itself. to_representation keeps no state.
_OUTPUT = InvitationOutputSerializer()


def invitation_to_dict(invitation: Invitation) -> dict:
    """The invitation as responses and webhook events show it."""
    return _OUTPUT.to_representation(invitation)


def invitations_to_dicts(invitations) -> list[dict]:
    return [_OUTPUT.to_representation(invitation) for invitation in invitations]


class HistoryEntrySerializer(serializers.Serializer):
    at = serializers.DateTimeField(source="created_at")
    fromStatus = serializers.CharField(source="from_status", allow_null=True)
    toStatus = serializers.CharField(source="to_status")
    reason = serializers.CharField()
    message = serializers.CharField(allow_blank=True)
    actor = serializers.SerializerMethodField(method_name="actor_of")

    class Meta:
        ref_name = "InvitationHistoryEntry"

    @extend_schema_field(ActorSerializer)
    def actor_of(self, event) -> dict:
        return {"kind": event.actor_kind, "label": event.actor_label}

    def to_representation(self, instance):
        body = super().to_representation(instance)
        body["fromStatus"] = body["fromStatus"] or None
        return body


class InvitationEventDataSerializer(serializers.Serializer):
    """The `data` of every invitation.* webhook event."""

    invitation = InvitationOutputSerializer(help_text="The invitation as GET shows it after the change.")
    requestedBy = ActorSerializer(required=False, help_text="invitation.resent only: who asked for the resend.")

    class Meta:
        ref_name = "InvitationEventData"
