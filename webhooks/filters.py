"""The event log's filters, as a django-filter FilterSet."""

import django_filters

from api.filters import CreatedWithinFilterSet, InvitationTokenFilter
from webhooks.models import Event


class EventFilter(CreatedWithinFilterSet):
    type = django_filters.CharFilter(max_length=64, help_text="One event type, invitation.sent say.")
    invitation = InvitationTokenFilter(
        field_name="subject", max_length=64, help_text="The events about this invitation (its token)."
    )

    class Meta:
        model = Event
        fields: list[str] = []
