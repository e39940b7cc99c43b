"""The invitation list's filters, as a django-filter FilterSet."""

import django_filters

from api.filters import CreatedWithinFilterSet
from invitations.models import Invitation


class InvitationFilter(CreatedWithinFilterSet):
    """Each filter narrows the list; one left empty, or only whitespace, is not applied."""

    status = django_filters.ChoiceFilter(choices=Invitation.Status.choices)
    channel = django_filters.ChoiceFilter(choices=Invitation.Channel.choices)
    reference = django_filters.CharFilter(max_length=200, help_text="Exact match on your reference.")
    workflow_token = django_filters.CharFilter(field_name="workflow__token", max_length=40)
    search = django_filters.CharFilter(
        field_name="recipient",
        lookup_expr="icontains",
        max_length=254,
        help_text="Part of the recipient, case-insensitive.",
    )

    class Meta:
        model = Invitation
        fields: list[str] = []
