"""Input parsing (strict JSON types, camelCase names) and the invitation's public shape."""

from datetime import UTC, datetime, time, timedelta

from django.utils.dateparse import parse_date, parse_datetime
from rest_framework import serializers

from invitations.models import Invitation


class StrictCharField(serializers.CharField):
    """A string, and only a string: a number or a list is a malformed request, not a value."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            raise serializers.ValidationError("Must be a string.", code="wrong_type")
        return super().to_internal_value(data)


class InvitationCreateInputSerializer(serializers.Serializer):
    # channel and locale are codes: " email" is not "email", so they are taken as sent, not trimmed.
    channel = StrictCharField(trim_whitespace=False)
    recipient = StrictCharField(max_length=254)
    workflowToken = StrictCharField(max_length=40, required=False, allow_null=True)  # noqa: N815
    reference = StrictCharField(max_length=200, required=False, allow_blank=True, default="")
    locale = StrictCharField(max_length=16, required=False, default="en", trim_whitespace=False)

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


_EARLIEST = datetime.min.replace(tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)


def _parse_bound(value: str, *, upper: bool) -> datetime:
    """A date or an ISO 8601 datetime, as a UTC instant; a bare date_to includes that whole day.

    The result is in UTC because PostgreSQL refuses offsets beyond ±15:59 that ISO 8601 allows. A bound
    that falls outside years 1..9999 once moved to UTC (or past its end) is clamped to the nearest
    representable instant, which selects the same rows.
    """
    # A bare date first: parse_datetime would also take it, as midnight, and lose the whole-day meaning.
    day = parse_date(value)
    if day is not None:
        moment = datetime.combine(day, time.min, tzinfo=UTC)
        step = timedelta(days=1)
    else:
        moment = parse_datetime(value)
        if moment is None:
            raise serializers.ValidationError("Enter a date (YYYY-MM-DD) or an ISO 8601 datetime.")
        step = timedelta(microseconds=1)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        moment = moment.astimezone(UTC)
        return moment + step if upper else moment
    except OverflowError:
        return _LATEST if moment.year == datetime.max.year else _EARLIEST


class BoundField(serializers.CharField):
    def __init__(self, *, upper: bool, **kwargs):
        self.upper = upper
        kwargs.setdefault("trim_whitespace", False)  # " 2026-03-01" is not a date
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        try:
            return _parse_bound(super().to_internal_value(data), upper=self.upper)
        except ValueError as exc:  # a date that parses but does not exist, like 2026-02-30
            raise serializers.ValidationError("Enter a real date.") from exc


class InvitationListFilterSerializer(serializers.Serializer):
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

    def to_internal_value(self, data):
        # Each filter takes one value: a repeated one (?status=sent&status=failed) is refused rather
        # than silently reduced to its last value.
        if hasattr(data, "getlist"):
            repeated = sorted(name for name in self.fields if len(data.getlist(name)) > 1)
            if repeated:
                once = serializers.ErrorDetail("Give this parameter once.", code="wrong_type")
                raise serializers.ValidationError({name: [once] for name in repeated})
        return super().to_internal_value(data)


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
