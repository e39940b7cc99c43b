"""List filters as django-filter FilterSets: the shared filter kinds, one way to apply a FilterSet
to a list's rows, and the FilterSet's filters as OpenAPI query parameters."""

import django_filters
from django import forms
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

from api.errors import ValidationFailed
from api.fields import parse_bound
from api.tokens import normalize_token


class BoundFormField(forms.CharField):
    """A date or an ISO 8601 datetime, as ``parse_bound`` reads it; taken as sent (" 2026-03-01" is
    not a date)."""

    def __init__(self, *, upper: bool, **kwargs):
        self.upper = upper
        super().__init__(strip=False, **kwargs)

    def to_python(self, value):
        value = super().to_python(value)
        if value in self.empty_values:
            return None
        try:
            return parse_bound(value, upper=self.upper)
        except serializers.ValidationError as exc:  # not a date or a datetime at all
            raise forms.ValidationError(" ".join(map(str, exc.detail)), code="invalid") from exc
        except ValueError as exc:  # one that does not exist (2026-02-30)
            raise forms.ValidationError("Enter a real date.", code="invalid") from exc


class BoundFilter(django_filters.Filter):
    """One end of a period: ``date_from`` (at or after) or ``date_to`` (before; a bare date includes
    that whole day)."""

    field_class = BoundFormField

    def __init__(self, *, upper: bool, **kwargs):
        kwargs.setdefault("lookup_expr", "lt" if upper else "gte")
        super().__init__(upper=upper, **kwargs)


class CreatedWithinFilterSet(django_filters.FilterSet):
    """A list of rows stamped ``created_at``: ``date_from`` and ``date_to`` bound the period."""

    date_from = BoundFilter(
        field_name="created_at", upper=False, help_text="Created at or after: a date or ISO 8601 datetime."
    )
    date_to = BoundFilter(
        field_name="created_at", upper=True, help_text="Created before; a bare date includes that whole day."
    )


class IntegerFilter(django_filters.NumberFilter):
    """A whole number (NumberFilter alone takes 200.5)."""

    field_class = forms.IntegerField


class InvitationTokenFilter(django_filters.CharFilter):
    """An invitation's token, with or without its ``adi_`` prefix; one that cannot exist matches
    nothing."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 68)
        super().__init__(**kwargs)

    def filter(self, qs, value):
        if value in django_filters.constants.EMPTY_VALUES:
            return qs
        token = normalize_token(value)
        return qs.none() if token is None else qs.filter(**{self.field_name: token})


def filter_rows(filterset_class: type[django_filters.FilterSet], params, queryset: QuerySet) -> QuerySet:
    """``queryset`` narrowed by the query parameters ``params``; ValidationFailed names each bad one."""
    filterset = filterset_class(params, queryset=queryset)
    if not filterset.is_valid():
        raise ValidationFailed(fields={name: list(messages) for name, messages in filterset.errors.items()})
    return filterset.qs


_DATE_OR_DATETIME = {"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]}


def _schema(filter_: django_filters.Filter) -> dict:
    if isinstance(filter_, django_filters.ChoiceFilter):
        return {"type": "string", "enum": [value for value, _ in filter_.extra["choices"]]}
    if isinstance(filter_, BoundFilter):
        return _DATE_OR_DATETIME
    if isinstance(filter_, IntegerFilter):
        bounds = {"min_value": "minimum", "max_value": "maximum"}
        return {"type": "integer", **{key: filter_.extra[arg] for arg, key in bounds.items() if arg in filter_.extra}}
    schema: dict = {"type": "string"}
    if filter_.extra.get("max_length"):
        schema["maxLength"] = filter_.extra["max_length"]
    return schema


def filter_parameters(filterset_class: type[django_filters.FilterSet]) -> list[OpenApiParameter]:
    """The FilterSet's filters as OpenAPI query parameters: the schema follows the filters."""
    return [
        OpenApiParameter(name, _schema(filter_), OpenApiParameter.QUERY, description=filter_.extra.get("help_text", ""))
        for name, filter_ in filterset_class.base_filters.items()
    ]
