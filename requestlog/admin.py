"""The request log, read-only; and the "Recent requests" tables the organization and invitation pages show."""

from django.contrib import admin

from console.tables import ReadOnlyAdminMixin, admin_time, html_table
from requestlog.models import RequestLogEntry
from requestlog.selectors import request_log_recent

RECENT_HEADERS = ("time", "request", "status", "error", "ms", "credential", "user agent", "ip")


def recent_requests_table(
    *, invitation_token: str = "", organization_id: int | None = None, livemode: bool | None = None
) -> str:
    entries = request_log_recent(invitation_token=invitation_token, organization_id=organization_id, livemode=livemode)
    rows = [
        (
            admin_time(entry.created_at),
            f"{entry.method} {entry.path}" + ("" if entry.livemode else " (sandbox)"),
            entry.status,
            entry.error_type,
            entry.duration_ms,
            f"{entry.credential_kind}: {entry.credential_label}",
            entry.user_agent,
            entry.ip,
        )
        for entry in entries
    ]
    return html_table(RECENT_HEADERS, rows, empty="No requests in the log.")


@admin.register(RequestLogEntry)
class RequestLogEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "public_id", "organization", "livemode", "method", "path", "status", "error_type")
    list_filter = ("livemode", "method", "status", ("created_at", admin.DateFieldListFilter))
    search_fields = ("public_id", "path", "invitation_token", "organization__slug", "credential_label")
    list_select_related = ("organization",)
    list_per_page = 50
    show_full_result_count = False
    ordering = ("-created_at", "-id")
