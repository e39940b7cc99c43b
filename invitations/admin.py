"""The support console: invitations read-only, with Resend as a bulk action and a detail-page button.

Both doors call the bulk resend service with the staff user as actor, so the rules, the audit rows
and the deliveries are the API's; each invitation's outcome is reported with the rule's own message.
The delivery attempts on an invitation's page are delivery's own inline (delivery/admin.py), declared here.
"""

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from accounts.principals import Actor
from console.tables import ReadOnlyAdminMixin, ReadOnlyInline, admin_time, html_table
from delivery.admin import DeliveryAttemptInline
from delivery.timeline import attempt_timeline_rows
from invitations.exceptions import ResendOutcome
from invitations.models import Invitation, InvitationEvent, Workflow
from invitations.services import InvitationResendResult, invitation_cancel_many, invitation_resend_bulk
from requestlog.admin import recent_requests_table
from webhooks.models import Event

RESEND_PERMISSION = "invitations.resend_invitation"
CANCEL_PERMISSION = "invitations.cancel_invitation"


def _message(result: InvitationResendResult) -> tuple[int, str]:
    """The message level and text the console shows for one invitation's outcome."""
    name = f"Invitation {result.token}"
    if result.outcome == ResendOutcome.RESENT:
        return messages.SUCCESS, f"{name}: resent; send attempt {result.delivery_attempts} queued."
    if result.outcome == ResendOutcome.NOT_FOUND:
        return messages.WARNING, f"{name}: no longer exists."
    if result.outcome == ResendOutcome.ERROR:
        # Its transaction rolled back: nothing half-done.
        return messages.ERROR, f"{name}: not resent; an unexpected error occurred and was logged. Try again."
    return messages.WARNING, f"{name}: not resent. {result.message}"


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
class InvitationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: every state change goes through the services (here, Resend)."""

    list_display = (
        "token",
        "status",
        "channel",
        "recipient",
        "organization",
        "is_live",
        "delivery_attempts",
        "sent_at",
        "expires_at",
        "created_at",
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
        (None, {"fields": ("token", "organization", "livemode", "workflow", "status", "error_message")}),
        ("Recipient", {"fields": ("channel", "recipient", "reference", "locale", "link")}),
        ("Delivery", {"fields": ("delivery_attempts", "dossier_token")}),
        ("Timeline", {"fields": ("timeline",)}),
        ("Webhooks", {"fields": ("webhook_events",)}),
        ("Recent requests", {"fields": ("recent_requests",)}),
        (
            "Times",
            {
                "fields": (
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
            },
        ),
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
        return recent_requests_table(invitation_token=obj.token)

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
                event.created_at.strftime("%Y-%m-%d %H:%M:%S"),
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

    def has_resend_permission(self, request, obj=None) -> bool:
        return request.user.is_active and request.user.is_staff and request.user.has_perm(RESEND_PERMISSION)

    # --- Resend -------------------------------------------------------------------------------------

    def get_urls(self):
        return [
            path(
                "<path:object_id>/resend/",
                self.admin_site.admin_view(self.resend_view),
                name="invitations_invitation_resend",
            ),
            path(
                "<path:object_id>/cancel/",
                self.admin_site.admin_view(self.cancel_view),
                name="invitations_invitation_cancel",
            ),
            *super().get_urls(),
        ]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["has_resend_permission"] = self.has_resend_permission(request, obj)
        context["has_cancel_permission"] = self.has_cancel_permission(request, obj)
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    def has_cancel_permission(self, request, obj=None) -> bool:
        return request.user.is_active and request.user.is_staff and request.user.has_perm(CANCEL_PERMISSION)

    @admin.action(description="Cancel (withdraw) selected invitations", permissions=["cancel"])
    def cancel(self, request, queryset):
        ids = (
            queryset.select_related(None).order_by("pk").values_list("pk", flat=True)[: settings.ADMIN_RESEND_MAX_ROWS]
        )
        self._cancel_and_report(request, list(ids))

    def cancel_view(self, request, object_id):
        """The page's Cancel button: a GET asks to confirm (a cancel cannot be undone), the POST cancels."""
        if not self.has_cancel_permission(request):
            raise PermissionDenied
        invitation = self.get_object(request, unquote(object_id))
        if invitation is None:
            return self._missing(request, object_id)
        if request.method == "POST":
            self._cancel_and_report(request, [invitation.pk])
            return redirect(reverse("admin:invitations_invitation_change", args=[invitation.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Cancel invitation {invitation.token}?",
            "opts": self.opts,
            "original": invitation,
        }
        return TemplateResponse(request, "admin/invitations/invitation/cancel_confirmation.html", context)

    def _cancel_and_report(self, request, invitation_ids: list[int]) -> None:
        for result in invitation_cancel_many(invitation_ids=invitation_ids, actor=Actor.for_staff(request.user)):
            if result.refusal is None:
                self.message_user(request, f"Invitation {result.token}: canceled.", messages.SUCCESS)
            else:
                self.message_user(
                    request, f"Invitation {result.token}: not canceled. {result.refusal}", messages.WARNING
                )

    @admin.action(description="Resend selected invitations", permissions=["resend"])
    def resend(self, request, queryset):
        if not self.has_resend_permission(request):
            raise PermissionDenied
        count = queryset.count()
        if count > settings.ADMIN_RESEND_MAX_ROWS:
            self.message_user(
                request,
                f"{count} invitations selected; the admin resends at most {settings.ADMIN_RESEND_MAX_ROWS} at once. "
                "Narrow the filters, or ask an operator to run the resend_invitations command.",
                messages.ERROR,
            )
            return None
        if count > settings.ADMIN_RESEND_CONFIRM_ABOVE and request.POST.get("confirm") != "yes":
            return self._resend_confirmation(request, queryset, count)
        self._resend_and_report(request, queryset.select_related(None).order_by("pk").only("pk"))
        return None

    def resend_view(self, request, object_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_resend_permission(request):
            raise PermissionDenied
        invitation = self.get_object(request, unquote(object_id))
        if invitation is None:
            return self._missing(request, object_id)
        self._resend_and_report(request, [invitation])
        return redirect(reverse("admin:invitations_invitation_change", args=[invitation.pk]))

    def _resend_confirmation(self, request, queryset, count: int) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": "Resend invitations?",
            "opts": self.opts,
            "count": count,
            "sample": list(queryset.order_by("pk").values_list("token", "status", "recipient")[:20]),
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/invitations/invitation/resend_confirmation.html", context)

    def _missing(self, request, object_id: str):
        """A Resend or Cancel for an invitation that is gone: say so on the list."""
        self.message_user(request, f"No invitation with id {object_id!r}; it may have been deleted.", messages.WARNING)
        return redirect(reverse("admin:invitations_invitation_changelist"))

    def _report(self, request, result: InvitationResendResult) -> None:
        level, text = _message(result)
        self.message_user(request, text, level)

    def _resend_and_report(self, request, invitations) -> None:
        # wait_for_busy: a person is waiting on a few rows; one locked by an API resend a moment
        # ago is resent (or refused) once that is done, rather than reported busy.
        summary = invitation_resend_bulk(
            invitation_ids=[invitation.pk for invitation in invitations],
            actor=Actor.for_staff(request.user),
            wait_for_busy=True,
        )
        shown = settings.ADMIN_RESEND_MESSAGES_MAX
        if len(summary.results) <= shown:
            for result in summary.results:
                self._report(request, result)
            return
        refused = [result for result in summary.results if result.outcome != ResendOutcome.RESENT]
        resent_count = len(summary.results) - len(refused)
        self.message_user(request, f"{resent_count} of {len(summary.results)} invitations resent.", messages.SUCCESS)
        for result in refused[:shown]:
            self._report(request, result)
        if len(refused) > shown:
            self.message_user(request, f"…and {len(refused) - shown} more not resent.", messages.WARNING)


@admin.register(Workflow)
class WorkflowAdmin(admin.ModelAdmin):
    list_display = ("name", "token", "organization", "is_default", "created_at")
    list_filter = ("is_default", "organization")
    search_fields = ("name", "token")
    readonly_fields = ("token", "created_at")
