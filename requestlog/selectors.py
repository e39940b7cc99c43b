"""Reads of the request log, always within one organization and mode."""

from django.db.models import QuerySet

from accounts.models import Organization
from requestlog.models import RequestLogEntry


def request_log_list(*, organization: Organization, livemode: bool) -> QuerySet[RequestLogEntry]:
    """This organization's and mode's requests, newest first (the API narrows them by ``RequestLogFilter``)."""
    return RequestLogEntry.objects.filter(organization=organization, livemode=livemode).order_by("-created_at", "-id")


def request_log_recent(
    *, invitation_token: str = "", organization_id: int | None = None, livemode: bool | None = None, limit: int = 20
) -> list:
    """The newest entries naming an invitation, or of an organization (in one mode, or both), for the
    admin. An invitation's are its own tenant's and mode's: another tenant's probes of its token are not."""
    qs = RequestLogEntry.objects.all()
    if invitation_token:
        qs = qs.filter(invitation_token=invitation_token)
    if organization_id is not None:
        qs = qs.filter(organization_id=organization_id)
    if livemode is not None:
        qs = qs.filter(livemode=livemode)
    return list(qs.order_by("-created_at", "-id")[:limit])
