"""What the apps' admin pages share."""


class ReadOnlyAdminMixin:
    """For a ModelAdmin or an inline over rows that only the services write: shown, never added,
    changed or deleted through the admin."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
