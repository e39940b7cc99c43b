"""Prices (editable) and billing events (read-only, with totals for the filtered rows)."""

from django.contrib import admin
from django.db.models import Count, Sum
from django.template.response import TemplateResponse

from billing.models import BillingEvent, Price
from console.tables import ReadOnlyAdminMixin


@admin.register(Price)
class PriceAdmin(admin.ModelAdmin):
    list_display = ("event_type", "organization", "amount", "currency")
    list_filter = ("event_type", "organization")


@admin.register(BillingEvent)
class BillingEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "organization", "event_type", "amount", "currency", "reference", "source_id")
    list_filter = ("event_type", "organization", "currency", ("created_at", admin.DateFieldListFilter))
    search_fields = ("reference", "source_id", "organization__slug")
    list_select_related = ("organization",)
    ordering = ("-created_at", "-id")
    fields = readonly_fields = (
        "organization",
        "event_type",
        "amount",
        "currency",
        "reference",
        "source_id",
        "created_at",
    )

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context=extra_context)
        context = response.context_data if isinstance(response, TemplateResponse) else None
        if context and context.get("cl") is not None:
            # Totals of what the filters and search select, every page together, per type and currency.
            context["billing_totals"] = list(
                context["cl"]
                .queryset.order_by()
                .values("event_type", "currency")
                .annotate(events=Count("id"), total=Sum("amount"))
                .order_by("event_type", "currency")
            )
        return response
