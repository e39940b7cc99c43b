"""One exception per rule that can refuse, carrying its registered code (type, status), its extra
fields, and, for the resend rules, the outcome a bulk resend reports for it."""

from datetime import datetime

from django.conf import settings
from django.db import models

from api import error_codes as codes
from api.errors import ApiError, NotFound, TooManyRequests
from invitations.lifecycle import CANCELABLE, CORRECTABLE, listed


class ResendOutcome(models.TextChoices):
    """What happened to one invitation of a bulk resend, in the order a summary lists them."""

    RESENT = "resent", "resent"
    COOLDOWN = "cooldown", "cooldown"
    CAPPED = "capped", "capped (max attempts)"
    EXPIRED = "expired", "expired"
    WRONG_STATUS = "wrong_status", "wrong status"
    CANCELED = "canceled", "canceled (withdrawn)"
    SUPPRESSED = "suppressed", "suppressed (recipient)"
    BUSY = "busy", "busy (locked elsewhere)"
    NOT_FOUND = "not_found", "not found"
    ERROR = "error", "errors"


class InvitationNotFound(NotFound):
    default_message = "No invitation with this token."
    resend_outcome = ResendOutcome.NOT_FOUND


class InvitationExpired(ApiError):
    code = codes.INVITATION_EXPIRED
    default_message = "This invitation has expired and cannot be resent. Create a new invitation instead."
    resend_outcome = ResendOutcome.EXPIRED


class InvitationLinkGone(ApiError):
    """The recipient's link no longer leads anywhere: a page in the invitation's language, 410 Gone."""

    code = codes.INVITATION_LINK_EXPIRED

    def __init__(self, message: str | None = None, *, locale: str = "", **extra):
        super().__init__(message, **extra)
        self.locale = locale


class InvitationLinkExpired(InvitationLinkGone):
    """The recipient's link after `expiresAt`."""

    default_message = "This invitation has expired. Ask the sender for a new one."


class InvalidStatus(ApiError):
    code = codes.INVALID_STATUS
    resend_outcome = ResendOutcome.WRONG_STATUS

    REASONS = {
        "pending": "the original delivery is still in flight; wait for it to settle",
        "delivered": "the recipient has already engaged; resending would create confusion",
        "opened": "the recipient has already engaged; resending would create confusion",
        "started": "the recipient has already engaged; resending would create confusion",
        "completed": "the recipient has already engaged; resending would create confusion",
        "rejected": "the recipient has already engaged; resending would create confusion",
        "failed": "failed deliveries are retried automatically by the delivery job",
        "canceled": "it was canceled (withdrawn); create a new invitation instead",
    }

    def __init__(self, *, status: str, next_retry_at: datetime | None = None, scheduled_for: datetime | None = None):
        if status == "canceled":
            self.resend_outcome = ResendOutcome.CANCELED
        reason = self.REASONS.get(status, "only invitations in sent status can be resent")
        if scheduled_for is not None:
            reason = f"its first send is scheduled for {scheduled_for:%Y-%m-%d %H:%M:%S} UTC (sendAt)"
        if status == "failed":
            # A blip is retried; a permanent failure would fail again to the same address.
            reason = (
                f"its last send failed for a reason that may pass, and it is retried automatically "
                f"(next try at {next_retry_at:%Y-%m-%d %H:%M:%S} UTC)"
                if next_retry_at is not None
                else "its send failed for good (no retry follows): correct the recipient (PATCH the invitation "
                "with a new recipient), or, once the address works again, PATCH it with the same recipient"
            )
        super().__init__(f"Only sent invitations can be resent; this one is {status}: {reason}.", status=status)


class CannotSendAgain(ApiError):
    """A send to the same recipient again (``send_again_refusal``) from anything but failed for good."""

    code = codes.INVALID_STATUS
    resend_outcome = ResendOutcome.WRONG_STATUS

    def __init__(self, *, status: str, next_retry_at: datetime | None = None):
        if status == "canceled":
            self.resend_outcome = ResendOutcome.CANCELED
        if next_retry_at is not None:
            message = (
                f"This invitation's send is retried automatically (next try at {next_retry_at:%Y-%m-%d %H:%M:%S} "
                "UTC): nothing to send again."
            )
        else:
            message = f"Only failed invitations are sent again; this one is {status}."
        super().__init__(message, status=status)


class CannotCancel(ApiError):
    code = codes.INVALID_STATUS

    def __init__(self, *, status: str):
        super().__init__(
            f"This invitation is {status} and can no longer be canceled: only {listed(CANCELABLE)} invitations can.",
            status=status,
        )


class CannotCorrect(ApiError):
    """A correction (a new recipient) of an invitation past the point where one helps."""

    code = codes.INVALID_STATUS

    REASONS = {
        "opened": "the link already reached someone",
        "started": "the link already reached someone",
        "completed": "the link already reached someone",
        "rejected": "the link already reached someone",
        "canceled": "it was canceled (withdrawn); create a new invitation instead",
    }

    def __init__(self, *, status: str):
        reason = self.REASONS.get(status, f"only {listed(CORRECTABLE)} invitations can be corrected")
        super().__init__(
            f"Only {listed(CORRECTABLE)} invitations can get a new recipient; this one is {status}: {reason}.",
            status=status,
        )


class CannotChange(ApiError):
    """A change of reference, locale or reminders on an invitation that is over."""

    code = codes.INVALID_STATUS

    def __init__(self, *, status: str):
        super().__init__(
            f"This invitation is {status}: it is over, and its details can no longer be changed.", status=status
        )


class CannotReschedule(ApiError):
    """A sendAt change on an invitation whose first send is not waiting for its time."""

    code = codes.INVALID_STATUS

    def __init__(self, *, status: str):
        super().__init__(
            f"This invitation is {status} and has no scheduled send waiting: sendAt can only move before the "
            "first send goes.",
            status=status,
        )


class InvitationLinkWithdrawn(InvitationLinkGone):
    """The recipient's link after the invitation was canceled."""

    default_message = "This invitation was withdrawn."


class InvalidTransition(ApiError):
    """A lifecycle move the transition table forbids; a programming or ordering error."""

    code = codes.INVALID_TRANSITION
    resend_outcome = ResendOutcome.WRONG_STATUS

    def __init__(self, *, from_status: str, to_status: str):
        super().__init__(f"An invitation cannot move from {from_status} to {to_status}.", status=from_status)


class MaxAttemptsReached(ApiError):
    code = codes.MAX_ATTEMPTS_REACHED
    resend_outcome = ResendOutcome.CAPPED

    def __init__(self):
        max_attempts = settings.INVITATION_MAX_DELIVERY_ATTEMPTS
        super().__init__(
            f"This invitation has reached the maximum of {max_attempts} send attempts. "
            "Create a new invitation to continue contacting the recipient.",
            max_attempts=max_attempts,
        )


class CooldownActive(TooManyRequests):
    code = codes.COOLDOWN_ACTIVE
    resend_outcome = ResendOutcome.COOLDOWN

    def __init__(self, *, remaining_seconds: int):
        self.retry_after_seconds = remaining_seconds
        cooldown = settings.INVITATION_RESEND_COOLDOWN_SECONDS
        super().__init__(
            f"This invitation was sent less than {cooldown} seconds ago; wait before resending it "
            f"(remaining_seconds={remaining_seconds})",
            remaining_seconds=remaining_seconds,
        )


def resend_outcome_of(refusal: Exception) -> ResendOutcome:
    """The bulk-resend outcome a refusal stands for: its own, or ``error`` for anything unforeseen."""
    return getattr(refusal, "resend_outcome", ResendOutcome.ERROR)


class RecipientSuppressed(ApiError):
    """A send to a recipient on the suppression list: refused before anything is queued."""

    code = codes.RECIPIENT_SUPPRESSED
    resend_outcome = ResendOutcome.SUPPRESSED

    def __init__(self, *, suppression):
        from rest_framework.fields import DateTimeField

        reason = suppression.get_reason_display()
        since = suppression.created_at
        super().__init__(
            f"{suppression.recipient} is suppressed ({reason}) since {since:%Y-%m-%d %H:%M} UTC: nothing was sent. "
            "Correct the recipient, or lift the suppression (DELETE /v1/suppressions/"
            f"{suppression.public_id}) if the address works again.",
            reason=suppression.reason,
            suppressedAt=DateTimeField().to_representation(since),
        )
