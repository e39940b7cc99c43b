"""The usage query: a half-open period [from, to) in UTC, the current calendar month by default."""

from datetime import UTC, datetime, timedelta

from django.utils import timezone
from rest_framework import serializers

from api.fields import BoundField, SingleValuedQuerySerializer


def _month_start(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


class UsageQuerySerializer(SingleValuedQuerySerializer):
    def get_fields(self):
        # "from" is a Python keyword, so the fields are declared here rather than as attributes.
        return {
            "from": BoundField(
                upper=False, required=False, help_text="Start, included: a date or an ISO 8601 datetime (UTC if naive)."
            ),
            "to": BoundField(
                upper=True,
                inclusive=False,
                required=False,
                help_text="End, excluded: an ISO 8601 datetime, or a date meaning through the end of that day.",
            ),
        }

    def validate(self, attrs):
        now = timezone.now()
        start = attrs.get("from") or _month_start(now)
        end = attrs.get("to") or (_month_start(now) + timedelta(days=32)).replace(day=1)
        if end <= start:
            raise serializers.ValidationError({"to": ["Must be later than from."]})
        return {"start": start, "end": end}
