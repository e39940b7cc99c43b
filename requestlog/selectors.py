"""Reads of the request log, always within one organization and mode."""

from datetime import datetime

from django.db.models import QuerySet

from accounts.models import Organization
from requestlog.models import RequestLogEntry


def request_log_list(
    *,
    organization: Organization,
    livemode: bool,
    status: int | None = None,
    method: str | None = None,
    path: str | None = None,
    invitation: str | None = None,
    date_from: datetime | None = None,
    date_to: datetime | None = None,
) -> QuerySet[RequestLogEntry]:
    qs = RequestLogEntry.objects.filter(organization=organization, livemode=livemode)
    if status is not None:
        qs = qs.filter(status=status)
    if method:
        qs = qs.filter(method=method.upper())
    if path:
        qs = qs.filter(path__contains=path)
    if invitation:
        qs = qs.filter(invitation_token="adi_" + invitation.removeprefix("adi_"))
    if date_from:
        qs = qs.filter(created_at__gte=date_from)
    if date_to:
        qs = qs.filter(created_at__lt=date_to)
    return qs.order_by("-created_at", "-id")


def request_log_recent(*, invitation_token: str = "", organization_id: int | None = None, limit: int = 20) -> list:
    """The newest entries naming an invitation, or of an organization (both modes), for the admin."""
    qs = RequestLogEntry.objects.all()
    if invitation_token:
        qs = qs.filter(invitation_token=invitation_token)
    if organization_id is not None:
        qs = qs.filter(organization_id=organization_id)
    return list(qs.order_by("-created_at", "-id")[:limit])
