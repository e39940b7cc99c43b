"""The request log's table for other apps' admin pages, asked for by name from their templates."""

from django import template

from requestlog.admin import recent_requests_table

register = template.Library()


@register.simple_tag
def recent_requests(*, organization=None, invitation_token: str = "") -> str:
    """The newest API requests of an organization (both modes) or about an invitation."""
    return recent_requests_table(
        organization_id=organization.pk if organization else None, invitation_token=invitation_token
    )
