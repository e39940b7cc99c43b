"""Reads of invitations: one by its token within a tenant and mode (404 for any other), the filtered
list, the bulk resend's selection, the recipient's link, and the history."""

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import Organization
from api.errors import ApiError
from invitations.exceptions import InvitationLinkExpired, InvitationLinkWithdrawn, InvitationNotFound
from invitations.models import Invitation, InvitationEvent
from invitations.tokens import normalize_token
from suppressions.selectors import active_suppression_of_row


@dataclass(frozen=True)
class InvitationLookup:
    """An invitation as the API names it: its tenant, its mode and the token the caller wrote.

    The services that lock an invitation take one of these, so a request finds and locks its row
    in one statement."""

    organization: Organization
    livemode: bool
    token: str

    def queryset(self) -> QuerySet[Invitation]:
        """This tenant's and mode's invitation with the token (none for a token that cannot exist)."""
        normalized = normalize_token(self.token)
        if normalized is None:
            return Invitation.objects.none()
        return Invitation.objects.filter(organization=self.organization, livemode=self.livemode, token=normalized)


def invitation_get(*, organization: Organization, livemode: bool, token: str) -> Invitation:
    """One invitation of this tenant and mode; any other answers 404 exactly like a missing one. Read
    with whether its recipient is suppressed (``suppression_pk``: its ``resend`` block says so)."""
    lookup = InvitationLookup(organization=organization, livemode=livemode, token=token)
    invitation = (
        lookup.queryset().select_related("workflow").annotate(suppression_pk=active_suppression_of_row("pk")).first()
    )
    if invitation is None:
        raise InvitationNotFound()
    return invitation


def invitation_list(*, organization: Organization, livemode: bool) -> QuerySet[Invitation]:
    """This tenant's and mode's invitations, newest first (the API narrows them by ``InvitationFilter``)."""
    return (
        Invitation.objects.select_related("workflow")
        .filter(organization=organization, livemode=livemode)
        .annotate(suppression_pk=active_suppression_of_row("pk"))
        .order_by("-created_at", "-id")
    )


def invitation_resend_selection(
    *,
    organization: Organization | None = None,
    livemode: bool | None = None,
    channel: str | None = None,
    statuses: list[str] | None = None,
    sent_after: datetime | None = None,
    sent_before: datetime | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    tokens: list[str] | None = None,
    error_contains: str | None = None,
) -> QuerySet[Invitation]:
    """Invitations a bulk resend should look at, across organizations unless one is given.

    ``*_after`` bounds are inclusive and ``*_before`` bounds exclusive, so consecutive windows
    never overlap. ``statuses`` None means any status. ``error_contains``: the last delivery error
    holds this text (any case). Ordered by id, the order batches take.
    """
    lookups = {
        "organization": organization,
        "livemode": livemode,
        "channel": channel or None,
        "status__in": statuses or None,
        "sent_at__gte": sent_after,
        "sent_at__lt": sent_before,
        "created_at__gte": created_after,
        "created_at__lt": created_before,
        "token__in": tokens,  # an empty list selects nothing
        "error_message__icontains": error_contains or None,
    }
    return Invitation.objects.filter(**{key: value for key, value in lookups.items() if value is not None}).order_by(
        "pk"
    )


def invitation_get_for_link(*, token: str) -> Invitation:
    """The invitation a recipient's link names, read only (a HEAD or a link preview)."""
    normalized = normalize_token(token)
    invitation = Invitation.objects.select_related("workflow").filter(token=normalized).first() if normalized else None
    if invitation is None:
        raise InvitationNotFound()
    refusal = invitation_link_refusal(invitation=invitation, now=timezone.now())
    if refusal is not None:
        raise refusal
    return invitation


def invitation_link_refusal(*, invitation: Invitation, now: datetime) -> ApiError | None:
    """Why the recipient's link no longer leads to the flow, in their language; None while it does.

    The one link rule, for a link followed and a link only looked at: withdrawn once canceled,
    expired once ``expires_at`` has passed; any other status still leads on."""
    if invitation.status == Invitation.Status.CANCELED:
        return InvitationLinkWithdrawn(locale=invitation.locale)
    if invitation.expires_at <= now:
        return InvitationLinkExpired(locale=invitation.locale)
    return None


def invitation_flow_url(*, invitation: Invitation) -> str:
    """The workflow's flow URL with `invitation_token` added (replacing one already there)."""
    parts = urlsplit(invitation.workflow.flow_url)
    query = [(key, value) for key, value in parse_qsl(parts.query, keep_blank_values=True) if key != "invitation_token"]
    query.append(("invitation_token", invitation.token))
    return urlunsplit(parts._replace(query=urlencode(query)))


def invitation_history(*, invitation: Invitation) -> QuerySet[InvitationEvent]:
    """Every status change of the invitation, oldest first."""
    return InvitationEvent.objects.filter(invitation=invitation).order_by("created_at", "id")
