"""Outbound webhooks in the support console: endpoints (their recent tries with the answers they
got; Send test, Redeliver the failed ones, enable, disable, rotate the secret), events with their
deliveries, and Redeliver. Secrets are never shown, but once after a rotation."""

from datetime import timedelta

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from accounts.principals import Actor
from console.tables import ReadOnlyAdminMixin, admin_time, html_table
from webhooks.models import Endpoint, Event, WebhookDelivery
from webhooks.selectors import webhook_endpoint_tries
from webhooks.services import (
    webhook_endpoint_delete,
    webhook_endpoint_recover,
    webhook_endpoint_rotate_secret,
    webhook_endpoint_test,
    webhook_endpoint_update,
    webhook_event_redeliver,
)

RECENT_TRIES = 20
REDELIVER_WINDOW = timedelta(days=1)


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    list_display = ("public_id", "url", "organization", "livemode", "enabled", "disabled_reason", "created_at")
    list_filter = ("enabled", "livemode", "organization")
    search_fields = ("public_id", "url", "organization__slug")
    list_select_related = ("organization",)
    actions = ("enable", "disable", "rotate_secret")
    fields = readonly_fields = (
        "public_id",
        "organization",
        "livemode",
        "url",
        "event_types",
        "description",
        "enabled",
        "disabled_reason",
        "failing_since",
        "created_at",
        "updated_at",
        "recent_tries",
    )
    change_form_template = "admin/webhooks/endpoint/change_form.html"

    @admin.display(description="recent tries, newest first")
    def recent_tries(self, obj: Endpoint) -> str:
        tries = webhook_endpoint_tries(endpoint=obj)[:RECENT_TRIES]
        return html_table(
            ("time", "event", "type", "try", "status", "response", "ms", "error"),
            [
                (
                    admin_time(one.created_at),
                    one.delivery.event.public_id,
                    one.delivery.event.type,
                    one.number,
                    one.status,
                    one.response_status or "—",
                    one.duration_ms,
                    one.error,
                )
                for one in tries
            ],
        )

    def get_urls(self):
        def door(name: str, view):
            return path(f"<int:pk>/{name}/", self.admin_site.admin_view(view), name=f"webhooks_endpoint_{name}")

        return [door("send-test", self.send_test_view), door("redeliver", self.redeliver_view), *super().get_urls()]

    def _posted_endpoint(self, request, pk: int) -> Endpoint:
        if request.method != "POST":
            raise PermissionDenied
        if not self.has_change_permission(request):
            raise PermissionDenied
        return get_object_or_404(Endpoint, pk=pk)

    def send_test_view(self, request, pk: int):
        """The page's Send test: a webhook.test event to this endpoint alone, now."""
        endpoint = self._posted_endpoint(request, pk)
        event = webhook_endpoint_test(endpoint=endpoint)
        self.message_user(request, f"Test event {event.public_id} queued to {endpoint.url}.", messages.SUCCESS)
        return redirect(reverse("admin:webhooks_endpoint_change", args=[endpoint.pk]))

    def redeliver_view(self, request, pk: int):
        """The page's Redeliver: every delivery to it that failed for good in the last day, sent again."""
        endpoint = self._posted_endpoint(request, pk)
        queued = webhook_endpoint_recover(endpoint=endpoint, since=timezone.now() - REDELIVER_WINDOW)
        self.message_user(request, f"{queued} failed deliveries of the last day queued again.", messages.SUCCESS)
        return redirect(reverse("admin:webhooks_endpoint_change", args=[endpoint.pk]))

    def has_add_permission(self, request):
        return False  # endpoints come from the API, which checks the address and makes the secret

    def delete_model(self, request, obj):
        webhook_endpoint_delete(endpoint=obj, actor=Actor.for_staff(request.user))

    def delete_queryset(self, request, queryset):
        for endpoint in queryset.select_related("organization"):
            webhook_endpoint_delete(endpoint=endpoint, actor=Actor.for_staff(request.user))

    @admin.action(description="Enable selected endpoints", permissions=["change"])
    def enable(self, request, queryset: QuerySet[Endpoint]):
        for endpoint in queryset:
            webhook_endpoint_update(endpoint=endpoint, enabled=True)
        self.message_user(request, f"{queryset.count()} endpoint(s) enabled.", messages.SUCCESS)

    @admin.action(description="Disable selected endpoints", permissions=["change"])
    def disable(self, request, queryset: QuerySet[Endpoint]):
        for endpoint in queryset:
            webhook_endpoint_update(endpoint=endpoint, enabled=False, disabled_reason="Disabled in the admin.")
        self.message_user(request, f"{queryset.count()} endpoint(s) disabled.", messages.SUCCESS)

    @admin.action(description="Rotate the signing secret (one endpoint)", permissions=["change"])
    def rotate_secret(self, request, queryset: QuerySet[Endpoint]):
        if queryset.count() != 1:
            self.message_user(request, "Rotate one endpoint at a time: its new secret is shown once.", messages.ERROR)
            return None
        endpoint = queryset.get()
        secret = webhook_endpoint_rotate_secret(endpoint=endpoint)
        context = {
            **self.admin_site.each_context(request),
            "title": "Secret rotated",
            "opts": self.opts,
            "endpoint": endpoint,
            "secret": secret,
            "change_url": reverse("admin:webhooks_endpoint_change", args=[endpoint.pk]),
        }
        response = TemplateResponse(request, "admin/webhooks/endpoint/secret_rotated.html", context)
        response["Cache-Control"] = "no-store"
        return response


class DeliveryInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = WebhookDelivery
    extra = 0
    fields = readonly_fields = ("endpoint", "status", "tries", "next_attempt_at", "updated_at")


@admin.register(Event)
class EventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("public_id", "type", "subject", "organization", "livemode", "created_at")
    list_filter = ("type", "livemode", "organization")
    search_fields = ("public_id", "subject")
    list_select_related = ("organization",)
    fields = readonly_fields = ("public_id", "type", "subject", "organization", "livemode", "data", "created_at")
    inlines = (DeliveryInline,)
    actions = ("redeliver",)

    def has_redeliver_permission(self, request) -> bool:
        return request.user.has_perm("webhooks.change_endpoint")

    @admin.action(description="Redeliver selected events", permissions=["redeliver"])
    def redeliver(self, request, queryset: QuerySet[Event]):
        queued = sum(webhook_event_redeliver(event=event) for event in queryset)
        self.message_user(request, f"{queued} deliveries queued again.", messages.SUCCESS)
