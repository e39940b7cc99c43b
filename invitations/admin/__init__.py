"""The support console: invitations read-only; each page says what happened and offers what can
help (Resend where it can succeed, Correct the recipient, Lift a suppression, Cancel), the list has
Resend and Cancel as bulk actions (actions.py) and Import from CSV (imports.py). The delivery
attempts on an invitation's page are delivery's own inline (delivery/admin.py), declared here.
"""

from django.contrib import admin
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from console.tables import ReadOnlyAdminMixin, ReadOnlyInline, admin_time, html_table
from delivery.admin import DeliveryAttemptInline, FailedSendFilter
from delivery.timeline import attempt_timeline_rows
from invitations.admin.actions import InvitationActionsMixin
from invitations.admin.imports import InvitationImportMixin
from invitations.admin.situation import invitation_situation
from invitations.models import Invitation, InvitationEvent, Workflow
from requestlog.admin import recent_requests_table
from webhooks.models import Event

# The lifecycle's times, each shown with its time zone (console.tables.admin_time).
TIMES = (
    "created_at",
    "updated_at",
    "sent_at",
    "delivered_at",
    "opened_at",
    "started_at",
    "completed_at",
    "rejected_at",
    "canceled_at",
    "expires_at",
)


class ModeFilter(admin.SimpleListFilter):
    title = "mode"
    parameter_name = "mode"

    def lookups(self, request, model_admin):
        return [("live", "Live"), ("sandbox", "Sandbox")]

    def queryset(self, request, queryset):
        if self.value() in ("live", "sandbox"):
            return queryset.filter(livemode=self.value() == "live")
        return queryset


class ExpiredFilter(admin.SimpleListFilter):
    title = "expired"
    parameter_name = "expired"

    def lookups(self, request, model_admin):
        return [("yes", "Expired"), ("no", "Not expired")]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "yes":
            return queryset.filter(expires_at__lte=now)
        if self.value() == "no":
            return queryset.filter(expires_at__gt=now)
        return queryset


class InvitationEventInline(ReadOnlyInline):
    model = InvitationEvent
    view_permission = "invitations.view_invitation"
    verbose_name_plural = "audit events"
    fields = readonly_fields = ("created_at", "from_status", "to_status", "reason", "message", "actor_label")
    ordering = ("created_at", "id")


@admin.register(Invitation)
class InvitationAdmin(InvitationActionsMixin, InvitationImportMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: every state change goes through the services (actions.py)."""

    list_display = (
        "token",
        "status",
        "channel",
        "recipient",
        "organization",
        "is_live",
        "delivery_attempts",
        "failure",
        "sent",
        "created",
    )
    list_filter = (
        "status",
        "channel",
        "organization",
        ModeFilter,
        ExpiredFilter,
        ("created_at", admin.DateFieldListFilter),
        ("sent_at", admin.DateFieldListFilter),
        ("expires_at", admin.DateFieldListFilter),
        FailedSendFilter,
    )
    search_fields = ("token", "recipient", "reference")
    list_select_related = ("organization",)
    list_per_page = 50
    show_full_result_count = False
    ordering = ("-created_at", "-id")
    actions = ("resend", "cancel")
    # delivery/admin.py puts its attempts inline first.
    inlines = (DeliveryAttemptInline, InvitationEventInline)
    change_form_template = "admin/invitations/invitation/change_form.html"
    fieldsets = (
        ("What happened", {"fields": ("situation",)}),
        (None, {"fields": ("token", "organization", "livemode", "workflow", "status", "error_message")}),
        ("Recipient", {"fields": ("channel", "recipient", "reference", "locale", "link")}),
        ("Delivery", {"fields": ("delivery_attempts", "dossier_token", "reminders")}),
        ("Timeline", {"fields": ("timeline",)}),
        ("Webhooks", {"fields": ("webhook_events",)}),
        ("Recent requests", {"fields": ("recent_requests",)}),
        ("Times (UTC)", {"fields": TIMES}),
    )

    @admin.display(description="what to do")
    def situation(self, obj: Invitation) -> str:
        return invitation_situation(obj).summary

    @admin.display(description="failure")
    def failure(self, obj: Invitation) -> str:
        """The last delivery error, short enough for the list."""
        text = obj.error_message if obj.status == Invitation.Status.FAILED else ""
        return text if len(text) <= 60 else text[:59] + "…"

    @admin.display(description="sent", ordering="sent_at")
    def sent(self, obj: Invitation) -> str:
        return admin_time(obj.sent_at)

    @admin.display(description="created", ordering="created_at")
    def created(self, obj: Invitation) -> str:
        return admin_time(obj.created_at)

    @admin.display(description="automatic reminders")
    def reminders(self, obj: Invitation) -> str:
        if not obj.reminder_max:
            return "None asked for."
        due = f"; next at {admin_time(obj.next_reminder_at)}" if obj.next_reminder_at else "; none due"
        return (
            f"{obj.reminders_sent} of {obj.reminder_max} sent (first {obj.reminder_after_hours:g} h after a send, "
            f"then every {obj.reminder_every_hours:g} h){due}"
        )

    @admin.display(description="newest first")
    def timeline(self, obj: Invitation) -> str:
        """Every status change and every send with what its provider reported, in one table."""
        rows = [
            (
                event.created_at,
                "status",
                f"{event.from_status or '—'} → {event.to_status}",
                f"{event.reason}: {event.message}" if event.message else event.reason,
                event.actor_label,
            )
            for event in obj.events.all()
        ]
        rows += attempt_timeline_rows(invitation_id=obj.pk)
        rows.sort(key=lambda row: row[0], reverse=True)
        return html_table(("time", "what", "event", "details", "by"), [(admin_time(row[0]), *row[1:]) for row in rows])

    @admin.display(description="requests that named it")
    def recent_requests(self, obj: Invitation) -> str:
        return recent_requests_table(
            invitation_token=obj.token, organization_id=obj.organization_id, livemode=obj.livemode
        )

    @admin.display(description="events sent to the customer's endpoints")
    def webhook_events(self, obj: Invitation) -> str:
        """The outbound events this invitation caused, newest first, each with how its deliveries went."""
        events = (
            Event.objects.filter(organization_id=obj.organization_id, subject=obj.token)
            .prefetch_related("deliveries")
            .order_by("-created_at", "-id")[:50]
        )
        rows = [
            (
                admin_time(event.created_at),
                reverse("admin:webhooks_event_change", args=[event.pk]),
                event.public_id,
                event.type,
                ", ".join(sorted(f"{d.status} ({d.tries} tries)" for d in event.deliveries.all())) or "no endpoint",
            )
            for event in events
        ]
        if not rows:
            return "None."
        return format_html(
            "<table><tr><th>time</th><th>event</th><th>type</th><th>deliveries</th></tr>{}</table>",
            format_html_join("", '<tr><td>{}</td><td><a href="{}">{}</a></td><td>{}</td><td>{}</td></tr>', rows),
        )

    def get_readonly_fields(self, request, obj=None):
        return [field for fieldset in self.fieldsets for field in fieldset[1]["fields"]]

    @admin.display(boolean=True, description="live", ordering="livemode")
    def is_live(self, obj: Invitation) -> bool:
        return obj.livemode

    # --- The actions (actions.py) ----------------------------------------------------------------------

    def get_urls(self):
        def door(name: str, view):
            return path(
                f"<path:object_id>/{name}/", self.admin_site.admin_view(view), name=f"invitations_invitation_{name}"
            )

        return [
            path("import/", self.admin_site.admin_view(self.import_view), name="invitations_invitation_import"),
            door("resend", self.resend_view),
            door("cancel", self.cancel_view),
            door("correct", self.correct_view),
            door("send_again", self.send_again_view),
            *super().get_urls(),
        ]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        situation = invitation_situation(obj) if obj is not None else None
        context["situation"] = situation
        context["has_resend_permission"] = self.has_resend_permission(request, obj)
        context["has_cancel_permission"] = self.has_cancel_permission(request, obj)
        context["can_resend"] = situation is not None and situation.resend_refusal is None
        context["can_lift"] = request.user.has_perm("suppressions.delete_suppression")
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    @admin.action(description="Cancel (withdraw) selected invitations", permissions=["cancel"])
    def cancel(self, request, queryset):
        return super().cancel(request, queryset)

    @admin.action(description="Resend selected invitations", permissions=["resend"])
    def resend(self, request, queryset):
        return super().resend(request, queryset)


@admin.register(Workflow)
class WorkflowAdmin(admin.ModelAdmin):
    list_display = ("name", "token", "organization", "is_default", "created_at")
    list_filter = ("is_default", "organization")
    search_fields = ("name", "token")
    readonly_fields = ("token", "created_at")
