"""The request log's filters, as a django-filter FilterSet."""

import django_filters

from api.filters import CreatedWithinFilterSet, IntegerFilter, InvitationTokenFilter
from requestlog.models import RequestLogEntry

METHODS = ["GET", "POST", "PATCH", "PUT", "DELETE"]


class RequestLogFilter(CreatedWithinFilterSet):
    status = IntegerFilter(min_value=100, max_value=599, help_text="The answer's HTTP status.")
    method = django_filters.ChoiceFilter(choices=[(method, method) for method in METHODS])
    path = django_filters.CharFilter(lookup_expr="contains", max_length=200, help_text="Part of the path.")
    invitation = InvitationTokenFilter(
        field_name="invitation_token", max_length=64, help_text="The requests about this invitation (its token)."
    )

    class Meta:
        model = RequestLogEntry
        fields: list[str] = []
