"""Organizations, API keys and memberships.

An API key is created through ``api_key_create``: its secret is shown once, on the page that
answers the creation (never stored, never put in a message or a log), and only its prefix after.
"""

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.urls import reverse

from accounts.models import AccountEvent, ApiKey, Membership, Organization, SandboxRecipient
from accounts.principals import Actor
from accounts.services import api_key_create, api_key_revoke, membership_remove, membership_upsert
from api.validators import normalize_address
from console.tables import ReadOnlyAdminMixin


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ("user",)


class SandboxRecipientForm(forms.ModelForm):
    class Meta:
        model = SandboxRecipient
        fields = ("recipient",)

    def clean_recipient(self) -> str:
        # Stored as invitations store it, so a sandbox send to the same address matches.
        return normalize_address(self.cleaned_data["recipient"])


class SandboxRecipientInline(admin.TabularInline):
    model = SandboxRecipient
    form = SandboxRecipientForm
    extra = 0
    verbose_name = "sandbox recipient"
    verbose_name_plural = "sandbox allow-list: the only addresses sandbox sends really reach (all others are simulated)"


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "created_at")
    search_fields = ("slug", "name")
    readonly_fields = ("created_at",)
    fieldsets = (
        (None, {"fields": ("slug", "name", "created_at")}),
        (
            "Reminders",
            {
                "fields": (
                    "reminder_max",
                    "reminder_after_hours",
                    "reminder_every_hours",
                    "expiry_warning_before_hours",
                ),
                "description": "What a new invitation gets when its create does not ask: how many automatic "
                "reminders (0: none), the hours after the last accepted send before the first, and between later ones.",
            },
        ),
    )
    inlines = (MembershipInline, SandboxRecipientInline)
    # Its newest API requests come from the request log, an app above this one: the page's template
    # asks requestlog's template tag for them, so accounts imports nothing of it.
    change_form_template = "admin/accounts/organization/change_form.html"

    def save_formset(self, request, form, formset, change):
        if formset.model is not Membership:
            super().save_formset(request, form, formset, change)
            return
        # Memberships only through their services, each audited.
        memberships = formset.save(commit=False)
        actor = Actor.for_staff(request.user)
        for membership in formset.deleted_objects:
            membership_remove(membership=membership, actor=actor, via="admin")
        for membership, changed in formset.changed_objects:
            if "user" in changed:
                # Another user in this row: the first one leaves, the other one joins.
                previous = Membership.objects.select_related("user", "organization").get(pk=membership.pk)
                membership_remove(membership=previous, actor=actor, via="admin")
                membership.pk = None
        for membership in memberships:
            _membership_save(request, membership)


class ApiKeyCreateForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ("organization", "name", "livemode")
        labels = {"livemode": "Live key"}
        help_texts = {
            "livemode": "Unticked: a sandbox (test) key, which sees only sandbox invitations and is never billed."
        }


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("prefix", "organization", "name", "livemode", "is_active", "created_at", "last_used_at")
    list_filter = ("livemode", ("revoked_at", admin.EmptyFieldListFilter), "organization")
    search_fields = ("prefix", "name", "organization__slug")
    list_select_related = ("organization",)
    actions = ("revoke",)
    readonly_fields = ("organization", "livemode", "prefix", "created_at", "last_used_at", "revoked_at")
    fields = ("organization", "name", "livemode", "prefix", "created_at", "last_used_at", "revoked_at")

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ApiKeyCreateForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        return ApiKeyCreateForm.Meta.fields if obj is None else self.fields

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    @admin.display(boolean=True, description="active")
    def is_active(self, obj: ApiKey) -> bool:
        return obj.is_active

    def has_delete_permission(self, request, obj=None):
        # Keys are revoked, not deleted: audit rows keep pointing at them.
        return False

    def save_model(self, request, obj, form, change):
        if change:
            obj.save(update_fields=["name"])
            return
        api_key, raw_key = api_key_create(
            organization=form.cleaned_data["organization"],
            livemode=form.cleaned_data["livemode"],
            name=form.cleaned_data["name"],
            actor=Actor.for_staff(request.user),
        )
        # The admin logs the addition against ``obj``; make it the row the service created.
        obj.pk = api_key.pk
        obj.refresh_from_db()
        request._created_api_key_secret = raw_key

    def response_add(self, request, obj, post_url_continue=None):
        raw_key = getattr(request, "_created_api_key_secret", None)
        if raw_key is None:
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "title": "API key created",
            "opts": self.opts,
            "api_key": obj,
            "raw_key": raw_key,
            "change_url": reverse("admin:accounts_apikey_change", args=[obj.pk]),
        }
        response = TemplateResponse(request, "admin/accounts/apikey/created.html", context)
        # The secret is on this page only: keep it out of every cache.
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Revoke selected keys", permissions=["change"])
    def revoke(self, request, queryset):
        revoked = 0
        for api_key in queryset.filter(revoked_at__isnull=True):
            api_key_revoke(api_key=api_key, actor=Actor.for_staff(request.user))
            revoked += 1
        self.message_user(request, f"{revoked} key(s) revoked.", messages.SUCCESS)


def _membership_save(request, membership: Membership) -> None:
    """The membership the admin's form made (not yet saved), set through ``membership_upsert``; the
    form's instance becomes the row the service wrote."""
    saved = membership_upsert(
        organization=membership.organization,
        user=membership.user,
        role=membership.role,
        actor=Actor.for_staff(request.user),
        via="admin",
    )
    membership.pk = saved.pk
    membership.refresh_from_db()


@admin.register(AccountEvent)
class AccountEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "organization", "action", "target", "detail", "actor_label")
    list_filter = ("action", "organization")
    search_fields = ("target", "actor_label", "organization__slug")
    list_select_related = ("organization",)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "organization", "role", "created_at")
    list_filter = ("role", "organization")
    search_fields = ("user__username", "user__email", "organization__slug")
    list_select_related = ("user", "organization")
    autocomplete_fields = ("user", "organization")
    readonly_fields = ("created_at",)

    def get_readonly_fields(self, request, obj=None):
        # A membership is one user in one organization: to move it, remove it and add another.
        return ("user", "organization", "created_at") if obj is not None else self.readonly_fields

    def save_model(self, request, obj, form, change):
        _membership_save(request, obj)

    def delete_model(self, request, obj):
        membership_remove(membership=obj, actor=Actor.for_staff(request.user), via="admin")

    def delete_queryset(self, request, queryset):
        for membership in queryset.select_related("user", "organization"):
            membership_remove(membership=membership, actor=Actor.for_staff(request.user), via="admin")
