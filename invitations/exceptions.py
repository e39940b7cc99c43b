"""One exception per resend rule, carrying the contract's type, status and extra fields."""

from django.conf import settings

from invitations_project.errors import ApiError, NotFound, TooManyRequests


class InvitationNotFound(NotFound):
    default_message = "No invitation with this token."


class InvitationExpired(ApiError):
    status_code = 422
    type = "invitation_expired"
    default_message = "This invitation has expired and cannot be resent. Create a new invitation instead."


class InvitationLinkExpired(ApiError):
    """The recipient's link after `expiresAt`: shown as a page, answered 410 Gone."""

    status_code = 410
    type = "invitation_expired"
    default_message = "This invitation has expired. Ask the sender for a new one."


class InvalidStatus(ApiError):
    status_code = 409
    type = "invalid_status"

    REASONS = {
        "pending": "the original delivery is still in flight; wait for it to settle",
        "delivered": "the recipient has already engaged; resending would create confusion",
        "opened": "the recipient has already engaged; resending would create confusion",
        "started": "the recipient has already engaged; resending would create confusion",
        "completed": "the recipient has already engaged; resending would create confusion",
        "rejected": "the recipient has already engaged; resending would create confusion",
        "failed": "failed deliveries are retried automatically by the delivery job",
    }

    def __init__(self, *, status: str):
        reason = self.REASONS.get(status, "only invitations in sent status can be resent")
        super().__init__(f"Only sent invitations can be resent; this one is {status}: {reason}.", status=status)


class InvalidTransition(ApiError):
    """A lifecycle move the transition table forbids; a programming or ordering error."""

    status_code = 409
    type = "invalid_status"

    def __init__(self, *, from_status: str, to_status: str):
        super().__init__(f"An invitation cannot move from {from_status} to {to_status}.", status=from_status)


class MaxAttemptsReached(ApiError):
    status_code = 422
    type = "max_attempts_reached"

    def __init__(self):
        max_attempts = settings.INVITATION_MAX_DELIVERY_ATTEMPTS
        super().__init__(
            f"This invitation has reached the maximum of {max_attempts} send attempts. "
            "Create a new invitation to continue contacting the recipient.",
            max_attempts=max_attempts,
        )


class CooldownActive(TooManyRequests):
    type = "cooldown_active"

    def __init__(self, *, remaining_seconds: int):
        self.retry_after_seconds = remaining_seconds
        cooldown = settings.INVITATION_RESEND_COOLDOWN_SECONDS
        super().__init__(
            f"This invitation was sent less than {cooldown} seconds ago; wait before resending it "
            f"(remaining_seconds={remaining_seconds})",
            remaining_seconds=remaining_seconds,
        )
