"""Adding and lifting suppressions: each change audited with its actor and told to the customer's
endpoints (suppression.created, suppression.deleted) in the caller's transaction."""

from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.principals import Actor
from suppressions.models import DESCRIPTION_MAX, Suppression
from suppressions.selectors import suppression_active, suppression_key
from suppressions.serializers import suppression_to_dict
from webhooks.events import NewEvent, webhook_events_emit

SUPPRESSION_EVENT_TYPES = ["suppression.created", "suppression.deleted"]


def _announce(suppression: Suppression, event_type: str, now: datetime) -> None:
    webhook_events_emit(
        events=[
            NewEvent(
                organization_id=suppression.organization_id,
                livemode=suppression.livemode,
                type=event_type,
                subject=suppression.public_id,
                data={"suppression": suppression_to_dict(suppression)},
            )
        ],
        now=now,
    )


def suppression_add(
    *,
    organization_id: int,
    livemode: bool,
    channel: str,
    recipient: str,
    reason: str,
    actor: Actor,
    description: str = "",
    invitation_token: str = "",
) -> tuple[Suppression, bool]:
    """Suppress a recipient; returns the suppression and whether it is new. One already there is
    returned as it is (the first reason stands until it is lifted)."""
    existing = suppression_active(
        organization_id=organization_id, livemode=livemode, channel=channel, recipient=recipient
    )
    if existing is not None:
        return existing, False
    now = timezone.now()
    suppression = Suppression(
        organization_id=organization_id,
        livemode=livemode,
        channel=channel,
        recipient=suppression_key(channel=channel, recipient=recipient),
        reason=Suppression.Reason(reason),
        description=" ".join(description.split())[:DESCRIPTION_MAX],
        invitation_token=invitation_token,
        created_at=now,
        created_by_kind=actor.kind,
        created_by_label=actor.label[:200],
    )
    try:
        # A savepoint: two reports of the same address at once, the second finds the first's row.
        with transaction.atomic():
            suppression.save()
            _announce(suppression, "suppression.created", now)
    except IntegrityError:
        existing = suppression_active(
            organization_id=organization_id, livemode=livemode, channel=channel, recipient=recipient
        )
        if existing is None:
            raise
        return existing, False
    return suppression, True


def suppression_lift(*, suppression: Suppression, actor: Actor) -> Suppression:
    """Lift a suppression: the next send to that recipient may go. The row stays, saying who lifted it."""
    with transaction.atomic():
        # Lock the row: two lifts at once announce it once.
        locked = Suppression.objects.select_for_update().filter(pk=suppression.pk, lifted_at__isnull=True).first()
        if locked is None:
            return suppression
        now = timezone.now()
        locked.lifted_at = now
        locked.lifted_by_kind = actor.kind
        locked.lifted_by_label = actor.label[:200]
        locked.save(update_fields=["lifted_at", "lifted_by_kind", "lifted_by_label"])
        _announce(locked, "suppression.deleted", now)
    return locked
