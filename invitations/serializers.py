"""Input parsing (strict JSON types, camelCase names) and the invitation's public shape."""

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.serializers import ActorSerializer
from api.fields import (
    NullIfBlankCharField,
    StrictCharField,
    StrictDateTimeField,
    StrictIntegerField,
    StrictNumberField,
    StrictObjectSerializer,
)
from api.pagination import PaginationSerializer
from api.validators import refuse_hidden_characters
from invitations.languages import language_shown, shipped_languages
from invitations.models import Invitation
from invitations.rules import RESEND_REFUSALS, ResendOutlook, resend_outlook

# A reminder further out than the longest expiry would never go.
MAX_REMINDER_HOURS = 24 * 365

LOCALE_HELP = (
    "A language tag (BCP 47) for the email, the SMS and the recipient's pages. Shipped: "
    + ", ".join(shipped_languages())
    + ". Matched exactly (pt-BR), then by language (pt), else English."
)


class RemindersInputSerializer(StrictObjectSerializer):
    """Automatic reminders asked for; a field left out takes the organization's default."""

    afterHours = StrictNumberField(required=False, help_text="Hours after the last accepted send to the first.")
    everyHours = StrictNumberField(required=False, help_text="Hours between later reminders.")
    max = StrictIntegerField(required=False, min_value=0, max_value=9, help_text="How many; 0 = none.")

    def validate(self, attrs):
        floor = settings.REMINDER_MIN_HOURS
        errors = {
            name: [f"Must be between {floor:g} and {MAX_REMINDER_HOURS:g} hours."]
            for name in ("afterHours", "everyHours")
            if name in attrs and not floor <= attrs[name] <= MAX_REMINDER_HOURS
        }
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class FallbackInputSerializer(StrictObjectSerializer):
    channel = StrictCharField(trim_whitespace=False, help_text="The other channel: sms for an email invitation.")
    recipient = StrictCharField(max_length=254, help_text="Its recipient, valid for that channel.")


class FallbackOutputSerializer(serializers.Serializer):
    channel = serializers.ChoiceField(choices=Invitation.Channel.choices, source="fallback_channel")
    recipient = serializers.CharField(source="fallback_recipient")

    class Meta:
        ref_name = "InvitationFallback"


class ExpiryWarningInputSerializer(StrictObjectSerializer):
    beforeHours = StrictNumberField(help_text="How long before expiresAt: at least REMINDER_MIN_HOURS (1).")

    def validate_beforeHours(self, value: float) -> float:
        if not settings.REMINDER_MIN_HOURS <= value <= 24 * 365:
            raise serializers.ValidationError(f"Must be between {settings.REMINDER_MIN_HOURS:g} and {24 * 365} hours.")
        return value


class ExpiryWarningOutputSerializer(serializers.Serializer):
    beforeHours = serializers.FloatField(source="expiry_warning_before_hours")
    sentAt = serializers.DateTimeField(source="expiry_warning_sent_at", allow_null=True)

    class Meta:
        ref_name = "InvitationExpiryWarning"


class InvitationCreateInputSerializer(StrictObjectSerializer):
    # channel and locale are codes: " email" is not "email", so they are taken as sent, not trimmed.
    channel = StrictCharField(trim_whitespace=False)
    recipient = StrictCharField(max_length=254)
    workflowToken = StrictCharField(max_length=40, required=False, allow_null=True)
    reference = StrictCharField(
        max_length=200, required=False, allow_blank=True, default="", validators=[refuse_hidden_characters]
    )
    locale = StrictCharField(max_length=16, required=False, default="en", trim_whitespace=False, help_text=LOCALE_HELP)
    reminders = RemindersInputSerializer(required=False)
    sendAt = StrictDateTimeField(
        required=False,
        allow_null=True,
        help_text="A scheduled first send: at least a minute ahead and before expiresAt; nothing is queued until then.",
    )
    expiryWarning = ExpiryWarningInputSerializer(
        required=False,
        allow_null=True,
        help_text="One message that long before expiresAt; left out, the organization's default; null, none.",
    )
    fallback = FallbackInputSerializer(
        required=False,
        allow_null=True,
        help_text="Where a send that fails for good goes next: the other channel and its recipient.",
    )

    @classmethod
    def read(cls, body: dict) -> dict:
        """A create's body, validated (raises DRF's ValidationError), as ``as_fields`` gives it."""
        serializer = cls(data=body)
        serializer.is_valid(raise_exception=True)
        return cls.as_fields(serializer.validated_data)

    @staticmethod
    def as_fields(data: dict) -> dict:
        """The validated body as ``invitation_create``'s (``invitation_prepare``'s) fields."""
        from invitations.services.create import DEFAULT

        return {
            "channel": data["channel"],
            "recipient": data["recipient"],
            "workflow_token": data.get("workflowToken"),
            "reference": data["reference"],
            "locale": data["locale"],
            "reminders": data.get("reminders"),
            "send_at": data.get("sendAt"),
            "expiry_warning": data["expiryWarning"] if "expiryWarning" in data else DEFAULT,
            "fallback": data.get("fallback"),
        }


class InvitationUpdateInputSerializer(StrictObjectSerializer):
    """PATCH: a new recipient (and channel) is a correction with a new send; the rest change alone."""

    channel = StrictCharField(required=False, trim_whitespace=False)
    recipient = StrictCharField(max_length=254, required=False)
    reference = StrictCharField(max_length=200, required=False, allow_blank=True, validators=[refuse_hidden_characters])
    locale = StrictCharField(max_length=16, required=False, trim_whitespace=False, help_text=LOCALE_HELP)
    reminders = RemindersInputSerializer(required=False)
    sendAt = StrictDateTimeField(
        required=False,
        allow_null=True,
        help_text="Moves a scheduled first send that has not gone yet; null sends it now.",
    )
    expiresAt = StrictDateTimeField(
        required=False,
        help_text="Moves the expiry, later or earlier: in the future, at most INVITATION_MAX_LIFETIME_DAYS (90) "
        "after createdAt; sends nothing.",
    )
    expiryWarning = ExpiryWarningInputSerializer(
        required=False, allow_null=True, help_text="One message that long before expiresAt; null removes it."
    )
    fallback = FallbackInputSerializer(
        required=False,
        allow_null=True,
        help_text="The other channel a send that fails for good goes to; null removes it.",
    )

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError(
                {
                    "non_field_errors": [
                        "Give at least one of channel, recipient, reference, locale, reminders, sendAt, expiresAt, "
                        "expiryWarning, fallback."
                    ]
                }
            )
        return attrs


class RemindersOutputSerializer(serializers.Serializer):
    afterHours = serializers.FloatField(source="reminder_after_hours")
    everyHours = serializers.FloatField(source="reminder_every_hours")
    max = serializers.IntegerField(source="reminder_max", min_value=0)
    sent = serializers.IntegerField(source="reminders_sent", min_value=0)

    class Meta:
        ref_name = "InvitationReminders"


class ResendOutlookSerializer(serializers.Serializer):
    """``resend`` of an invitation: what POST .../resend would answer now."""

    allowed = serializers.BooleanField(
        help_text="Whether a resend would pass its rules now (credentials and throttles aside)."
    )
    refusal = serializers.ChoiceField(
        choices=RESEND_REFUSALS,
        allow_null=True,
        help_text="The error type a resend would answer now (the first of the resend rules that applies), or null.",
    )
    availableAt = serializers.DateTimeField(
        source="available_at",
        allow_null=True,
        help_text="When a resend becomes allowed, when only the cooldown stands in the way; else null.",
    )
    sendsLeft = serializers.IntegerField(
        source="sends_left", min_value=0, help_text="10 minus deliveryAttempts, never below 0."
    )

    class Meta:
        ref_name = "InvitationResend"

    def to_representation(self, instance: ResendOutlook) -> dict:
        return {
            "allowed": instance.allowed,
            "refusal": instance.refusal.type if instance.refusal is not None else None,
            "availableAt": serializers.DateTimeField().to_representation(instance.available_at)
            if instance.available_at is not None
            else None,
            "sendsLeft": instance.sends_left,
        }


class InvitationOutputSerializer(serializers.Serializer):
    """The invitation as every response shows it, and as the OpenAPI description shows it."""

    token = serializers.CharField(help_text="Public id, adi_…; path parameters accept it with or without the prefix.")
    status = serializers.ChoiceField(choices=Invitation.Status.choices)
    channel = serializers.ChoiceField(choices=Invitation.Channel.choices)
    recipient = serializers.CharField(help_text="An email address, or an E.164 phone number for sms.")
    workflowToken = serializers.CharField(source="workflow.token", help_text="Which verification flow the link starts.")
    reference = serializers.CharField(help_text="The caller's own id, echoed back; may be empty.", allow_blank=True)
    locale = serializers.CharField(help_text=LOCALE_HELP)
    language = serializers.SerializerMethodField(
        method_name="language_of",
        help_text="The shipped language the messages and pages use: the locale itself, else its language, else en.",
    )
    deliveryAttempts = serializers.IntegerField(
        source="delivery_attempts",
        min_value=1,
        help_text="The initial send plus each accepted resend; automatic retries do not count.",
    )
    errorMessage = NullIfBlankCharField(source="error_message", help_text="The last delivery error, when failed.")
    dossierToken = NullIfBlankCharField(source="dossier_token", help_text="Set once the recipient starts.")
    livemode = serializers.BooleanField(help_text="False when created with a sandbox key.")
    link = serializers.URLField(help_text="What the recipient clicks.")
    reminders = RemindersOutputSerializer(source="*", help_text="Automatic reminders: asked for, and sent so far.")
    nextReminderAt = serializers.DateTimeField(
        source="next_reminder_at", allow_null=True, help_text="When the next automatic reminder is due, or null."
    )
    sendAt = serializers.DateTimeField(
        source="send_at", allow_null=True, help_text="The scheduled first send asked for on create, or null."
    )
    fallback = serializers.SerializerMethodField(
        method_name="fallback_of",
        help_text='Where a send that fails for good goes next, or null: see "Channel fallback".',
    )
    expiryWarning = serializers.SerializerMethodField(
        method_name="expiry_warning_of",
        help_text="The warning that the link expires, asked for and when it went; null when none is asked for.",
    )
    resend = serializers.SerializerMethodField(
        method_name="resend_of", help_text='What a resend would answer now: see "What may happen next".'
    )
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

    def language_of(self, invitation: Invitation) -> str:
        return language_shown(invitation.locale)

    @extend_schema_field(FallbackOutputSerializer(allow_null=True))
    def fallback_of(self, invitation: Invitation) -> dict | None:
        if not invitation.fallback_channel:
            return None
        return {"channel": invitation.fallback_channel, "recipient": invitation.fallback_recipient}

    @extend_schema_field(ExpiryWarningOutputSerializer(allow_null=True))
    def expiry_warning_of(self, invitation: Invitation) -> dict | None:
        if invitation.expiry_warning_before_hours is None:
            return None
        return _EXPIRY_WARNING.to_representation(invitation)

    @extend_schema_field(ResendOutlookSerializer)
    def resend_of(self, invitation: Invitation) -> dict:
        return _RESEND.to_representation(resend_outlook(invitation=invitation, now=timezone.now()))


class InvitationPageSerializer(serializers.Serializer):
    # DRF's stubs take a field named data for the serializer's own `data` attribute.
    data = InvitationOutputSerializer(many=True)  # type: ignore[assignment]
    pagination = PaginationSerializer()

    class Meta:
        ref_name = "InvitationPage"


_RESEND = ResendOutlookSerializer()
_EXPIRY_WARNING = ExpiryWarningOutputSerializer()

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
    previousRecipient = serializers.CharField(
        required=False, help_text="invitation.corrected only: the recipient before the correction."
    )
    willRetry = serializers.BooleanField(
        required=False, help_text="invitation.failed only: whether an automatic retry follows."
    )
    nextRetryAt = serializers.DateTimeField(
        required=False, allow_null=True, help_text="invitation.failed only: when the next automatic try is due."
    )

    class Meta:
        ref_name = "InvitationEventData"
