"""What the apps' admin pages share."""

from django.contrib import admin
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe


class ReadOnlyAdminMixin:
    """For a ModelAdmin or an inline over rows that only the services write: shown, never added,
    changed or deleted through the admin."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(ReadOnlyAdminMixin, admin.TabularInline):
    """Rows shown on their parent's page to whoever may view the parent (``view_permission``); never
    edited there."""

    view_permission = ""
    extra = 0
    can_delete = False
    show_change_link = False

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm(self.view_permission)


def html_table(headers: tuple[str, ...], rows: list[tuple], *, empty: str = "None.") -> str:
    """A read-only table for an admin field; every cell escaped."""
    if not rows:
        return empty
    head = format_html_join("", "<th>{}</th>", ((header,) for header in headers))
    cells = "".join(
        format_html("<tr>{}</tr>", format_html_join("", "<td>{}</td>", ((cell,) for cell in row))) for row in rows
    )
    return format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, mark_safe(cells))


def admin_time(moment) -> str:
    """A moment as the console shows it: to the second, with its time zone (the server's, UTC)."""
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S %Z") if moment else ""
