"""The suppression list's filters, as a django-filter FilterSet."""

import django_filters

from api.filters import CreatedWithinFilterSet
from suppressions.models import Suppression


class SuppressionFilter(CreatedWithinFilterSet):
    reason = django_filters.ChoiceFilter(choices=Suppression.Reason.choices)
    channel = django_filters.ChoiceFilter(choices=Suppression.Channel.choices)
    search = django_filters.CharFilter(
        field_name="recipient", lookup_expr="icontains", max_length=254, help_text="Part of the recipient."
    )

    class Meta:
        model = Suppression
        fields: list[str] = []
