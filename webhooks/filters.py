"""The event log's filters, as a django-filter FilterSet."""

import django_filters

from api.filters import BoundFilter, InvitationTokenFilter
from webhooks.models import Event


class EventFilter(django_filters.FilterSet):
    type = django_filters.CharFilter(max_length=64, help_text="One event type, invitation.sent say.")
    invitation = InvitationTokenFilter(
        field_name="subject", max_length=64, help_text="The events about this invitation (its token)."
    )
    date_from = BoundFilter(field_name="created_at", upper=False, help_text="At or after: a date or ISO 8601 datetime.")
    date_to = BoundFilter(field_name="created_at", upper=True, help_text="Before; a bare date includes that whole day.")

    class Meta:
        model = Event
        fields: list[str] = []
