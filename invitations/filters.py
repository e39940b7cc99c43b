"""The list endpoint's filters, as a django-filter FilterSet, and their OpenAPI parameters."""

import django_filters
from django import forms
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

from api.fields import parse_bound
from invitations.models import Invitation


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
            raise forms.ValidationError(exc.detail[0], code="invalid") from exc
        except ValueError as exc:  # one that does not exist (2026-02-30)
            raise forms.ValidationError("Enter a real date.", code="invalid") from exc


class BoundFilter(django_filters.Filter):
    field_class = BoundFormField

    def __init__(self, *, upper: bool, **kwargs):
        super().__init__(upper=upper, **kwargs)


class InvitationFilter(django_filters.FilterSet):
    """Each filter narrows the list; one left empty, or only whitespace, is not applied."""

    status = django_filters.ChoiceFilter(choices=Invitation.Status.choices)
    channel = django_filters.ChoiceFilter(choices=Invitation.Channel.choices)
    reference = django_filters.CharFilter(max_length=200, help_text="Exact match on your reference.")
    workflow_token = django_filters.CharFilter(field_name="workflow__token", max_length=40)
    date_from = BoundFilter(
        field_name="created_at",
        lookup_expr="gte",
        upper=False,
        help_text="Created at or after: a date or ISO 8601 datetime.",
    )
    date_to = BoundFilter(
        field_name="created_at",
        lookup_expr="lt",
        upper=True,
        help_text="Created before; a bare date includes that whole day.",
    )
    search = django_filters.CharFilter(
        field_name="recipient",
        lookup_expr="icontains",
        max_length=254,
        help_text="Part of the recipient, case-insensitive.",
    )

    class Meta:
        model = Invitation
        fields: list[str] = []


_DATE_OR_DATETIME = {"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]}


def filter_parameters(filterset_class: type[django_filters.FilterSet]) -> list[OpenApiParameter]:
    """The FilterSet's filters as OpenAPI query parameters: the schema follows the filters."""
    parameters = []
    for name, filter_ in filterset_class.base_filters.items():
        if isinstance(filter_, django_filters.ChoiceFilter):
            schema = {"type": "string", "enum": [value for value, _ in filter_.extra["choices"]]}
        elif isinstance(filter_, BoundFilter):
            schema = _DATE_OR_DATETIME
        else:
            schema = {"type": "string"}
            if filter_.extra.get("max_length"):
                schema["maxLength"] = filter_.extra["max_length"]
        parameters.append(
            OpenApiParameter(name, schema, OpenApiParameter.QUERY, description=filter_.extra.get("help_text", ""))
        )
    return parameters
