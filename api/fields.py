"""Input fields shared by every API: strict JSON types, unknown fields refused, period bounds."""

import math
from datetime import UTC, datetime, time, timedelta

from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

_EARLIEST = datetime.min.replace(tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)


class StrictCharField(serializers.CharField):
    """A string, and only a string: a number or a list is a malformed request, not a value."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            raise serializers.ValidationError("Must be a string.", code="wrong_type")
        return super().to_internal_value(data)


class StrictListField(serializers.ListField):
    """A JSON list, and only a list."""

    def to_internal_value(self, data):
        if not isinstance(data, list):
            raise serializers.ValidationError("Must be a list.", code="wrong_type")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """true or false, and nothing DRF would read as one ("yes", 1)."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            raise serializers.ValidationError("Must be true or false.", code="wrong_type")
        return data


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer, and only that: "3", 3.5 and true are malformed, not values."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            raise serializers.ValidationError("Must be an integer.", code="wrong_type")
        return super().to_internal_value(data)


class StrictNumberField(serializers.FloatField):
    """A JSON number (integer or fraction), finite: "3" and true are malformed, not values."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float):
            raise serializers.ValidationError("Must be a number.", code="wrong_type")
        if isinstance(data, float) and not math.isfinite(data):
            raise serializers.ValidationError("Must be a finite number.", code="wrong_type")
        try:
            return float(data)
        except OverflowError as exc:
            raise serializers.ValidationError("Must be a finite number.", code="wrong_type") from exc


class StrictObjectSerializer(serializers.Serializer):
    """A JSON object body whose every key is a declared field."""

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


def refuse_repeated(query_params, names) -> None:
    """Query parameters each take one value: a repeated one (?status=sent&status=failed) is a 400
    rather than silently reduced to its last value."""
    if hasattr(query_params, "getlist"):
        repeated = sorted(name for name in names if len(query_params.getlist(name)) > 1)
        if repeated:
            once = serializers.ErrorDetail("Give this parameter once.", code="wrong_type")
            raise serializers.ValidationError({name: [once] for name in repeated})


class SingleValuedQuerySerializer(serializers.Serializer):
    """Query parameters that each take one value (``refuse_repeated``)."""

    def to_internal_value(self, data):
        refuse_repeated(data, self.fields)
        return super().to_internal_value(data)


@extend_schema_field(OpenApiTypes.DATETIME)
class StrictDateTimeField(serializers.Field):
    """An ISO 8601 datetime in a JSON string, as a UTC instant (a time without an offset is UTC): a
    number is a malformed request; a string that is no datetime, an invalid value."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            raise serializers.ValidationError("Must be a string.", code="wrong_type")
        try:
            parsed = parse_datetime(data)
        except ValueError:
            parsed = None
        if parsed is None:
            raise serializers.ValidationError("Enter an ISO 8601 datetime, such as 2026-03-02T09:00:00Z.")
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        try:
            return parsed.astimezone(UTC)
        except OverflowError as exc:
            raise serializers.ValidationError("Enter a datetime between the years 1 and 9999.") from exc

    def to_representation(self, value):
        return serializers.DateTimeField().to_representation(value)


def parse_bound(value: str, *, upper: bool, inclusive: bool = True) -> datetime:
    """A date or an ISO 8601 datetime, as a UTC instant; a bare date as an upper bound includes that whole day.

    An inclusive upper datetime bound is moved one microsecond on, so every bound can be compared with
    ``<``. The result is in UTC because PostgreSQL refuses offsets beyond ±15:59 that ISO 8601 allows. A
    bound that falls outside years 1..9999 once moved to UTC (or past its end) is clamped to the nearest
    representable instant, which selects the same rows.
    """
    # A bare date first: parse_datetime would also take it, as midnight, and lose the whole-day meaning.
    day = parse_date(value)
    if day is not None:
        moment = datetime.combine(day, time.min, tzinfo=UTC)
        step = timedelta(days=1)
    else:
        parsed = parse_datetime(value)
        if parsed is None:
            raise serializers.ValidationError("Enter a date (YYYY-MM-DD) or an ISO 8601 datetime.")
        moment = parsed
        step = timedelta(microseconds=1) if inclusive else timedelta(0)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        moment = moment.astimezone(UTC)
        return moment + step if upper else moment
    except OverflowError:
        return _LATEST if moment.year == datetime.max.year else _EARLIEST


class BoundField(serializers.CharField):
    """One end of a period, parsed by ``parse_bound``."""

    def __init__(self, *, upper: bool, inclusive: bool = True, **kwargs):
        self.upper = upper
        self.inclusive = inclusive
        kwargs.setdefault("trim_whitespace", False)  # " 2026-03-01" is not a date
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        try:
            return parse_bound(super().to_internal_value(data), upper=self.upper, inclusive=self.inclusive)
        except ValueError as exc:  # a date that parses but does not exist, like 2026-02-30
            raise serializers.ValidationError("Enter a real date.") from exc


class NullIfBlankCharField(serializers.CharField):
    """Text that is stored as "" when absent, and shown as null."""

    def __init__(self, **kwargs):
        super().__init__(allow_null=True, **kwargs)

    def to_representation(self, value):
        return super().to_representation(value) if value else None
