"""Delivery attempts, read-only: the outbox is written by the services and the jobs alone. They also
appear inline on each invitation's page: the inline is here, InvitationAdmin names it."""

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.utils.dateparse import parse_datetime

from console.tables import ReadOnlyAdminMixin, ReadOnlyInline
from delivery.health import failed_send_invitations
from delivery.models import DeliveryAttempt


class DeliveryAttemptInline(ReadOnlyInline):
    """On each invitation's page (InvitationAdmin.inlines)."""

    model = DeliveryAttempt
    view_permission = "invitations.view_invitation"
    verbose_name_plural = "delivery attempts"
    fields = readonly_fields = (
        "number",
        "status",
        "channel",
        "recipient",
        "tries",
        "provider_message_id",
        "error_message",
        "created_at",
        "accepted_at",
        "delivered_at",
    )
    ordering = ("number",)


class FailedSendFilter(admin.ListFilter):
    """On the invitation list: the invitations with a send queued in [queued_from, queued_to) that
    failed or bounced for ``failure_reason``, as the Delivery health page counts them (its links)."""

    title = "failed send"
    parameters = ("failure_reason", "queued_from", "queued_to")

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        self.values = {}
        for name in self.parameters:
            if name in params:
                value = params.pop(name)
                self.values[name] = value[-1] if isinstance(value, list) else value

    def has_output(self) -> bool:
        return "failure_reason" in self.values

    def expected_parameters(self):
        return list(self.parameters)

    def choices(self, changelist):
        yield {
            "selected": False,
            "query_string": changelist.get_query_string(remove=self.parameters),
            "display": "Any (clear)",
        }
        yield {
            "selected": True,
            "query_string": changelist.get_query_string(),
            "display": self.values.get("failure_reason") or "(no reason given)",
        }

    def queryset(self, request, queryset):
        if "failure_reason" not in self.values:
            return queryset
        start, end = (parse_datetime(self.values.get(name, "")) for name in ("queued_from", "queued_to"))
        if start is None or end is None or start.tzinfo is None or end.tzinfo is None:
            raise IncorrectLookupParameters("queued_from and queued_to must be ISO 8601 times with an offset.")
        # Live or sandbox, and the organization, are the list's own filters (mode, organization).
        wanted = failed_send_invitations(reason=self.values["failure_reason"], start=start, end=end)
        return queryset.filter(pk__in=wanted.values("pk"))


# What a send is, in the list and on its page.
SEND_FIELDS = ("number", "channel", "recipient", "livemode", "status", "tries", "provider_message_id")


@admin.register(DeliveryAttempt)
class DeliveryAttemptAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "invitation_token", *SEND_FIELDS, "created_at", "accepted_at")
    list_filter = ("status", "channel", "livemode", ("created_at", admin.DateFieldListFilter))
    search_fields = ("invitation__token", "recipient", "provider_message_id")
    list_select_related = ("invitation",)
    list_per_page = 50
    show_full_result_count = False
    ordering = ("-created_at", "-id")
    fields = readonly_fields = (
        "invitation",
        *SEND_FIELDS,
        "error_message",
        "created_at",
        "updated_at",
        "claimed_at",
        "accepted_at",
        "delivered_at",
        "failure_reason",
    )

    @admin.display(description="invitation", ordering="invitation__token")
    def invitation_token(self, obj: DeliveryAttempt) -> str:
        return obj.invitation.token
