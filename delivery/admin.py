"""Delivery attempts, read-only: the outbox is written by the services and the jobs alone. They also
appear inline on each invitation's page: the inline is here, InvitationAdmin names it."""

from django.contrib import admin

from console.tables import ReadOnlyAdminMixin, ReadOnlyInline
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
    )
    ordering = ("number",)


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
    )

    @admin.display(description="invitation", ordering="invitation__token")
    def invitation_token(self, obj: DeliveryAttempt) -> str:
        return obj.invitation.token
