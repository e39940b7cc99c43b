"""The dashboard roles' rights per HTTP method; API keys act with every right of their organization."""

from rest_framework.permissions import SAFE_METHODS, BasePermission


class RoleAllowsMethod(BasePermission):
    """Reading needs any role; creating and resending need one that may write."""

    message = "Your role does not allow this action."

    def has_permission(self, request, view) -> bool:
        principal = request.user
        if principal is None or not getattr(principal, "is_authenticated", False):
            return False
        return request.method in SAFE_METHODS or principal.can_write
