"""The usage query: a half-open period [from, to) in UTC, the current calendar month by default."""

from datetime import UTC, datetime, time, timedelta

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from rest_framework import serializers


def _month_start(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


class PeriodBoundField(serializers.CharField):
    """An ISO 8601 datetime (UTC when it has no offset) or a date. A bare date as ``to`` means
    through the end of that day."""

    def __init__(self, *, end: bool, **kwargs):
        self.end = end
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        try:
            # A date first: parse_datetime would also read "2026-03-31" as that day's midnight.
            day = parse_date(value)
            moment = None if day is not None else parse_datetime(value)
        except ValueError as exc:  # parses, but is no real date, like 2026-02-30
            raise serializers.ValidationError("Enter a real date.") from exc
        if moment is not None:
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        if day is None:
            raise serializers.ValidationError("Enter a date (YYYY-MM-DD) or an ISO 8601 datetime.")
        if self.end:
            day += timedelta(days=1)
        return datetime.combine(day, time.min, tzinfo=UTC)


class UsageQuerySerializer(serializers.Serializer):
    def get_fields(self):
        # "from" is a Python keyword, so the fields are declared here rather than as attributes.
        return {
            "from": PeriodBoundField(end=False, required=False),
            "to": PeriodBoundField(end=True, required=False),
        }

    def validate(self, attrs):
        now = timezone.now()
        start = attrs.get("from") or _month_start(now)
        end = attrs.get("to") or (_month_start(now) + timedelta(days=32)).replace(day=1)
        if end <= start:
            raise serializers.ValidationError({"to": ["Must be later than from."]})
        return {"start": start, "end": end}
