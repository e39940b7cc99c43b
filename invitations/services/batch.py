"""Batch create: up to BATCH_CREATE_MAX invitations in one call, each item checked as its own create
would be, the valid ones made in one transaction and their first sends queued in delivery batches."""

from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from rest_framework import serializers

from accounts.models import Organization
from accounts.principals import Actor
from api.errors import ApiError, InvalidRequest, error_for_exception
from invitations.exceptions import RecipientSuppressed
from invitations.models import Invitation, Workflow
from invitations.services.create import invitation_prepare, invitations_insert
from suppressions.selectors import suppressions_matching


@dataclass(frozen=True)
class BatchItem:
    """One item's outcome: the invitation made (201), or the error its own create would answer."""

    index: int
    invitation: Invitation | None = None
    error: ApiError | None = None

    @property
    def status(self) -> int:
        return 201 if self.error is None else self.error.status_code


def invitations_create_batch(
    *,
    organization: Organization,
    livemode: bool,
    items: list,
    actor: Actor,
    read_item: Callable[[dict], dict],
    dry_run: bool = False,
) -> list[BatchItem]:
    """Each item read by ``read_item`` (a create's body to its fields, or the error its create would
    answer) and prepared as a create prepares it; the recipients' suppressions read in one query; the
    valid ones inserted together. ``dry_run``: each item's outcome, nothing saved (the invitations
    of the valid ones are unsaved)."""
    now = timezone.now()
    workflows: dict[str | None, Workflow] = {}
    outcomes: dict[int, BatchItem] = {}
    prepared: dict[int, Invitation] = {}
    for index, item in enumerate(items):
        try:
            if not isinstance(item, dict):
                raise InvalidRequest("Each item must be a JSON object, as a create's body is.")
            prepared[index] = invitation_prepare(
                organization=organization, livemode=livemode, now=now, workflows=workflows, **read_item(item)
            )
        except (ApiError, serializers.ValidationError) as exc:
            outcomes[index] = BatchItem(index=index, error=error_for_exception(exc) or InvalidRequest())
    targets = {
        index: (organization.pk, livemode, invitation.channel, invitation.recipient)
        for index, invitation in prepared.items()
    }
    suppressions = suppressions_matching(targets.values())
    valid: list[Invitation] = []
    for index, invitation in prepared.items():
        suppression = suppressions.get(targets[index])
        if suppression is not None:
            outcomes[index] = BatchItem(index=index, error=RecipientSuppressed(suppression=suppression))
        else:
            valid.append(invitation)
            outcomes[index] = BatchItem(index=index, invitation=invitation)
    if valid and not dry_run:
        with transaction.atomic():
            invitations_insert(valid, actor=actor, now=now)
    return [outcomes[index] for index in range(len(items))]
