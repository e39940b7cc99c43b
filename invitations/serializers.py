"""Input parsing (strict JSON types, camelCase names) and the invitation's public shape."""

from datetime import UTC, datetime

from rest_framework import serializers

from invitations.models import Invitation
from invitations_project.fields import (
    BoundField,
    SingleValuedQuerySerializer,
    StrictCharField,
    StrictObjectSerializer,
)


class InvitationCreateInputSerializer(StrictObjectSerializer):
    # channel and locale are codes: " email" is not "email", so they are taken as sent, not trimmed.
    channel = StrictCharField(trim_whitespace=False)
    recipient = StrictCharField(max_length=254)
    workflowToken = StrictCharField(max_length=40, required=False, allow_null=True)  # noqa: N815
    reference = StrictCharField(max_length=200, required=False, allow_blank=True, default="")
    locale = StrictCharField(max_length=16, required=False, default="en", trim_whitespace=False)


class InvitationListFilterSerializer(SingleValuedQuerySerializer):
    page = serializers.IntegerField(min_value=1, max_value=10_000_000, default=1)
    per_page = serializers.IntegerField(min_value=1, max_value=100, default=20)
    status = serializers.ChoiceField(choices=Invitation.Status.values, required=False)
    channel = serializers.ChoiceField(choices=Invitation.Channel.values, required=False)
    # A filter left empty, or only whitespace, is not applied (like leaving it out).
    reference = serializers.CharField(
        max_length=200, required=False, allow_blank=True, help_text="Exact match on your reference."
    )
    workflow_token = serializers.CharField(max_length=40, required=False, allow_blank=True)
    date_from = BoundField(upper=False, required=False, help_text="Created at or after: a date or ISO 8601 datetime.")
    date_to = BoundField(upper=True, required=False, help_text="Created before; a bare date includes that whole day.")
    search = serializers.CharField(
        max_length=254,
        required=False,
        allow_blank=True,
        trim_whitespace=True,
        help_text="Part of the recipient, case-insensitive.",
    )


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def invitation_to_dict(invitation: Invitation) -> dict:
    return {
        "token": invitation.token,
        "status": invitation.status,
        "channel": invitation.channel,
        "recipient": invitation.recipient,
        "workflowToken": invitation.workflow.token,
        "reference": invitation.reference,
        "locale": invitation.locale,
        "deliveryAttempts": invitation.delivery_attempts,
        "errorMessage": invitation.error_message or None,
        "dossierToken": invitation.dossier_token or None,
        "livemode": invitation.livemode,
        "link": invitation.link,
        "createdAt": _iso(invitation.created_at),
        "sentAt": _iso(invitation.sent_at),
        "deliveredAt": _iso(invitation.delivered_at),
        "openedAt": _iso(invitation.opened_at),
        "startedAt": _iso(invitation.started_at),
        "completedAt": _iso(invitation.completed_at),
        "rejectedAt": _iso(invitation.rejected_at),
        "expiresAt": _iso(invitation.expires_at),
    }
