"""The rules a send after the first must pass, in API.md's order, and what they say of an invitation
now: the resend (``resend_refusal``) and, from the same function, the ``resend`` block every
representation carries (``resend_outlook``). Reminders and corrections check the same rules."""

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings

from api.errors import ApiError
from delivery.selectors import delivery_retries_due
from invitations.exceptions import (
    CannotSendAgain,
    CooldownActive,
    InvalidStatus,
    InvitationExpired,
    MaxAttemptsReached,
    RecipientSuppressed,
)
from invitations.models import Invitation
from suppressions.models import Suppression
from suppressions.selectors import Target, suppressions_matching

RESENDABLE = frozenset({Invitation.Status.SENT})


def resend_refusal(
    *,
    invitation: Invitation,
    now: datetime,
    suppressions: dict[Target, Suppression] | None = None,
    statuses: frozenset[str] = RESENDABLE,
    retries: dict[int, datetime] | None = None,
) -> ApiError | None:
    """The first resend rule this invitation breaks, in API.md's order, or None. ``suppressions``
    and ``retries`` (``delivery_retries_due``): a batch's, found at once; else looked up here when
    needed. ``statuses``: where a send may go from (a reminder's are sent and delivered)."""

    def wrong_status(invitation: Invitation) -> ApiError:
        if invitation.send_due_at is not None and invitation.status == Invitation.Status.PENDING:
            return InvalidStatus(status=invitation.status, scheduled_for=invitation.send_at)
        if invitation.status != Invitation.Status.FAILED:
            return InvalidStatus(status=invitation.status)
        due = retries if retries is not None else delivery_retries_due(invitation_ids=[invitation.pk])
        return InvalidStatus(status=invitation.status, next_retry_at=due.get(invitation.pk))

    refusal = send_rules_refusal(invitation=invitation, now=now, statuses=statuses, wrong_status=wrong_status)
    if refusal is not None:
        return refusal
    if invitation.sent_at is not None:
        elapsed = (now - invitation.sent_at).total_seconds()
        remaining = math.ceil(settings.INVITATION_RESEND_COOLDOWN_SECONDS - elapsed)
        if remaining > 0:
            return CooldownActive(remaining_seconds=remaining)
    return recipient_refusal(invitation=invitation, suppressions=suppressions)


def send_rules_refusal(
    *, invitation: Invitation, now: datetime, statuses: frozenset[str], wrong_status: Callable[[Invitation], ApiError]
) -> ApiError | None:
    """The rules every send after the first checks first, in API.md's order: expired, a status it may
    go from (else ``wrong_status``'s refusal), the attempt cap. Resend, reminders and correction."""
    if invitation.expires_at <= now:
        return InvitationExpired()
    if invitation.status not in statuses:
        return wrong_status(invitation)
    if invitation.delivery_attempts >= settings.INVITATION_MAX_DELIVERY_ATTEMPTS:
        return MaxAttemptsReached()
    return None


def send_target(invitation: Invitation) -> Target:
    """Whom a send of this invitation reaches, as the suppression list names it."""
    return (invitation.organization_id, invitation.livemode, invitation.channel, invitation.recipient)


def recipient_refusal(
    *, invitation: Invitation, suppressions: dict[Target, Suppression] | None = None
) -> RecipientSuppressed | None:
    """RecipientSuppressed when the invitation's recipient is on the suppression list, else None."""
    target = send_target(invitation)
    if suppressions is not None:
        suppression = suppressions.get(target)
    elif hasattr(invitation, "suppression_pk"):
        # Locked by invitations_lock, which read whether it is suppressed with the row.
        pk = invitation.suppression_pk
        suppression = Suppression.objects.filter(pk=pk).first() if pk is not None else None
    else:
        suppression = suppressions_matching([target]).get(target)
    return RecipientSuppressed(suppression=suppression) if suppression is not None else None


@dataclass(frozen=True)
class ResendOutlook:
    """What ``POST .../resend`` would answer now, credentials and throttles aside: the ``resend``
    block of every representation, and the admin's sentence about it."""

    refusal: ApiError | None  # the error it would answer now, or None: it would pass
    lasting: ApiError | None  # the refusal that stays once the cooldown is over, or None
    available_at: datetime | None  # when it passes, when only the cooldown stands in the way
    sends_left: int

    @property
    def allowed(self) -> bool:
        return self.refusal is None


def resend_outlook(
    *,
    invitation: Invitation,
    now: datetime,
    suppressions: dict[Target, Suppression] | None = None,
    retries: dict[int, datetime] | None = None,
) -> ResendOutlook:
    """``resend_refusal`` itself, asked now; the suppression read with the row when it was
    (``suppression_pk``), else looked up when it decides the answer. The next automatic retry is
    only named in a refusal's words: looked up only when ``retries`` are given."""
    refusal = resend_refusal(invitation=invitation, now=now, suppressions=suppressions, retries=retries or {})
    lasting: ApiError | None = refusal
    if isinstance(refusal, CooldownActive):
        lasting = recipient_refusal(invitation=invitation, suppressions=suppressions)
    available_at = None
    if isinstance(refusal, CooldownActive) and lasting is None and invitation.sent_at is not None:
        available_at = invitation.sent_at + timedelta(seconds=settings.INVITATION_RESEND_COOLDOWN_SECONDS)
    sends_left = max(0, settings.INVITATION_MAX_DELIVERY_ATTEMPTS - invitation.delivery_attempts)
    return ResendOutlook(refusal=refusal, lasting=lasting, available_at=available_at, sends_left=sends_left)


# The error types ``resend.refusal`` may name: rows 5-9 of "Resend, checked in this order".
RESEND_REFUSALS = [
    error.code.type
    for error in (InvitationExpired, InvalidStatus, MaxAttemptsReached, CooldownActive, RecipientSuppressed)
]


SENDABLE_AGAIN = frozenset({Invitation.Status.FAILED})


def send_again_refusal(
    *,
    invitation: Invitation,
    now: datetime,
    suppressions: dict[Target, Suppression] | None = None,
    retries: dict[int, datetime] | None = None,
) -> ApiError | None:
    """Why a `failed` invitation cannot be sent again to its own recipient now (PATCH with the same
    recipient, the admin's Send again, ``resend_invitations --failed``), or None: the correction's
    rules (expired, status, cap; no cooldown), then an automatic retry still pending, then the
    recipient's suppression."""

    def wrong_status(invitation: Invitation) -> ApiError:
        return CannotSendAgain(status=invitation.status)

    refusal = send_rules_refusal(invitation=invitation, now=now, statuses=SENDABLE_AGAIN, wrong_status=wrong_status)
    if refusal is not None:
        return refusal
    due = retries if retries is not None else delivery_retries_due(invitation_ids=[invitation.pk])
    if invitation.pk in due:
        return CannotSendAgain(status=invitation.status, next_retry_at=due[invitation.pk])
    return recipient_refusal(invitation=invitation, suppressions=suppressions)
