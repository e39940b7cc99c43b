"""Reads of the suppression list, always within one organization and mode."""

from collections.abc import Iterable

from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Lower

from accounts.models import Organization
from api.errors import NotFound
from api.tokens import is_public_id
from suppressions.models import Suppression


def suppression_key(*, channel: str, recipient: str) -> str:
    """The recipient as suppressions compare it: email addresses case-insensitively (the whole
    address); phone numbers in E.164, which has no letters (so lower-casing is the rule for both)."""
    return recipient.strip().lower()


def active_suppression_field(field: str, *, organization_id, livemode, channel, recipient) -> Subquery:
    """``field`` of the active suppression of the recipient the (outer) expressions name, or NULL:
    for a query that reads a send's row and whether it may go in one statement."""
    return Subquery(
        Suppression.objects.filter(
            organization_id=organization_id,
            livemode=livemode,
            channel=channel,
            recipient=Lower(recipient),
            lifted_at__isnull=True,
        )
        .order_by()
        .values(field)[:1]
    )


# (organization id, livemode, channel, recipient): whom a send would reach.
Target = tuple[int, bool, str, str]


def suppressions_matching(targets: Iterable[Target]) -> dict[Target, Suppression]:
    """The active suppression of each target that has one, in one indexed query however many."""
    wanted = {
        (org, live, channel, suppression_key(channel=channel, recipient=to)): (org, live, channel, to)
        for org, live, channel, to in targets
    }
    if not wanted:
        return {}
    match = Q()
    for org, live, channel, key in wanted:
        match |= Q(organization_id=org, livemode=live, channel=channel, recipient=key)
    found: dict[Target, Suppression] = {}
    for suppression in Suppression.objects.filter(match, lifted_at__isnull=True):
        stored = (suppression.organization_id, suppression.livemode, suppression.channel, suppression.recipient)
        found[wanted[stored]] = suppression
    return found


def suppression_active(*, organization_id: int, livemode: bool, channel: str, recipient: str) -> Suppression | None:
    """The suppression that forbids this recipient now, if any."""
    return (
        Suppression.objects.filter(
            organization_id=organization_id,
            livemode=livemode,
            channel=channel,
            recipient=suppression_key(channel=channel, recipient=recipient),
            lifted_at__isnull=True,
        )
        .order_by()
        .first()
    )


def active_suppression_of_row(field: str, *, organization: str = "organization_id") -> Subquery:
    """``active_suppression_field`` for the outer row's own recipient: a row with ``livemode``,
    ``channel`` and ``recipient`` fields and its organization's id at ``organization``."""
    return active_suppression_field(
        field,
        organization_id=OuterRef(organization),
        livemode=OuterRef("livemode"),
        channel=OuterRef("channel"),
        recipient=OuterRef("recipient"),
    )


def suppression_list(*, organization: Organization, livemode: bool) -> QuerySet[Suppression]:
    """This organization's and mode's active suppressions, newest first."""
    return Suppression.objects.filter(organization=organization, livemode=livemode, lifted_at__isnull=True).order_by(
        "-created_at", "-id"
    )


def suppression_get(*, organization: Organization, livemode: bool, public_id: str) -> Suppression:
    """One active suppression of this tenant and mode; any other (lifted, another tenant's or mode's)
    answers 404 like a missing one."""
    rows = suppression_list(organization=organization, livemode=livemode)
    suppression = rows.filter(public_id=public_id).first() if is_public_id(public_id) else None
    if suppression is None:
        raise NotFound("No suppression with this id.")
    return suppression
