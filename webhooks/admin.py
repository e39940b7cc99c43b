"""Outbound webhooks in the support console: endpoints (enable, disable, rotate the secret), events
with their deliveries, and Redeliver. Secrets are never shown, but once after a rotation."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.template.response import TemplateResponse
from django.urls import reverse

from accounts.principals import Actor
from console.tables import ReadOnlyAdminMixin
from webhooks.models import Endpoint, Event, WebhookDelivery
from webhooks.services import (
    webhook_endpoint_delete,
    webhook_endpoint_rotate_secret,
    webhook_endpoint_update,
    webhook_event_redeliver,
)


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
    )

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
