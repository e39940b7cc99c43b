"""Suppressions in the console: the list, searchable, and Lift (a bulk action, and the button an
invitation's page shows for its suppressed recipient), through the same service as the API."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme

from accounts.principals import Actor
from console.tables import ReadOnlyAdminMixin, admin_time
from suppressions.models import Suppression
from suppressions.services import suppression_lift

LIFT_PERMISSION = "suppressions.delete_suppression"


class ActiveFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("active", "Suppressing"), ("lifted", "Lifted")]

    def queryset(self, request, queryset):
        if self.value() == "active":
            return queryset.filter(lifted_at__isnull=True)
        if self.value() == "lifted":
            return queryset.filter(lifted_at__isnull=False)
        return queryset


@admin.register(Suppression)
class SuppressionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("recipient", "channel", "reason", "organization", "livemode", "invitation_token", "since", "lifted")
    list_filter = (ActiveFilter, "reason", "channel", "livemode", "organization")
    search_fields = ("recipient", "invitation_token", "public_id")
    list_select_related = ("organization",)
    ordering = ("-created_at", "-id")
    actions = ("lift",)
    readonly_fields = fields = (
        "public_id",
        "organization",
        "livemode",
        "channel",
        "recipient",
        "reason",
        "description",
        "invitation_token",
        "since",
        "created_by_label",
        "lifted",
        "lifted_by_label",
    )

    @admin.display(description="since", ordering="created_at")
    def since(self, obj: Suppression) -> str:
        return admin_time(obj.created_at)

    @admin.display(description="lifted", ordering="lifted_at")
    def lifted(self, obj: Suppression) -> str:
        return admin_time(obj.lifted_at) or "—"

    def has_lift_permission(self, request, obj=None) -> bool:
        return request.user.is_active and request.user.is_staff and request.user.has_perm(LIFT_PERMISSION)

    def has_delete_permission(self, request, obj=None) -> bool:
        # Lifting keeps the row (who, when): never deleted outright.
        return False

    @admin.action(description="Lift selected suppressions", permissions=["lift"])
    def lift(self, request, queryset):
        actor = Actor.for_staff(request.user)
        lifted = 0
        for suppression in queryset.filter(lifted_at__isnull=True):
            suppression_lift(suppression=suppression, actor=actor)
            lifted += 1
        self.message_user(request, f"Lifted {lifted} suppressions; sends to those recipients may go again.")

    def get_urls(self):
        lift = self.admin_site.admin_view(self.lift_view)
        return [path("<int:pk>/lift/", lift, name="suppressions_suppression_lift"), *super().get_urls()]

    def lift_view(self, request, pk: int):
        """The Lift button of a suppression (on an invitation's page): POST, then back where it was."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_lift_permission(request):
            raise PermissionDenied
        suppression = Suppression.objects.filter(pk=pk).first()
        if suppression is None or suppression.lifted_at is not None:
            self.message_user(request, "This suppression was already lifted.", messages.WARNING)
        else:
            suppression_lift(suppression=suppression, actor=Actor.for_staff(request.user))
            self.message_user(
                request, f"Suppression of {suppression.recipient} lifted; the next send may go.", messages.SUCCESS
            )
        next_url = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
            next_url = reverse("admin:suppressions_suppression_changelist")
        return redirect(next_url)
