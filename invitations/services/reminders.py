"""Automatic reminders: the periodic job finds the invitations whose `nextReminderAt` has come (one
indexed scan) and sends each a reminder under the resend's rules, as actor system/reminder."""

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.principals import Actor
from invitations import lifecycle
from invitations.exceptions import CooldownActive
from invitations.models import Invitation
from invitations.reminders import REMINDABLE
from invitations.rules import resend_refusal, send_target
from invitations.services.resend import invitations_send_next
from invitations.services.transitions import invitations_lock
from suppressions.selectors import suppressions_matching

REMINDER_ACTOR = Actor.reminder()
EXPIRY_WARNING_ACTOR = Actor.expiry_warning()


@dataclass(frozen=True)
class RemindersSent:
    sent: int
    # Due, but a rule refused them (expired, capped, suppressed, moved on): their clock is stopped.
    refused: int


def due_reminders(*, now: datetime) -> QuerySet[Invitation]:
    """The invitations whose next reminder is due, read from the partial index of those with one ahead."""
    return Invitation.objects.filter(next_reminder_at__lte=now).order_by("next_reminder_at")


def invitation_reminders_send(*, limit: int = 500) -> RemindersSent:
    """Send one batch of due reminders, in one transaction: each one passing the rules moves to
    `pending` with one more attempt and one more reminder, audited and told as invitation.resent;
    the refused ones get no next reminder. A job killed before the commit changed nothing; after it,
    the attempts are in the outbox and the sweeper sends what Redis did not take. Nothing twice."""
    now = timezone.now()
    with transaction.atomic():
        # skip_locked: two sweeps at once take different rows; one a resend holds is left for later.
        rows = list(invitations_lock(due_reminders(now=now), skip_locked=True).order_by("next_reminder_at")[:limit])
        suppressions = suppressions_matching(send_target(invitation) for invitation in rows)
        eligible: list[Invitation] = []
        refused: list[Invitation] = []
        for invitation in rows:
            refusal = resend_refusal(
                invitation=invitation, now=now, suppressions=suppressions, statuses=REMINDABLE, retries={}
            )
            (refused if refusal is not None else eligible).append(invitation)
        if refused:
            Invitation.objects.filter(pk__in=[invitation.pk for invitation in refused]).update(next_reminder_at=None)
        for invitation in eligible:
            invitation.reminders_sent += 1
        invitations_send_next(
            eligible,
            actor=REMINDER_ACTOR,
            now=now,
            reason=lifecycle.Reason.REMINDER,
            update_fields=("reminders_sent",),
            message=lambda i: f"Reminder {i.reminders_sent} of {i.reminder_max}: send attempt {i.delivery_attempts}.",
        )
    return RemindersSent(sent=len(eligible), refused=len(refused))


def invitations_remind(*, batch_size: int = 500, max_batches: int = 20) -> RemindersSent:
    """The periodic job: batches until none is due (or ``max_batches``, so one run stays short)."""
    return _in_batches(invitation_reminders_send, batch_size=batch_size, max_batches=max_batches)


def _in_batches(send_batch, *, batch_size: int, max_batches: int) -> RemindersSent:
    """``send_batch(limit=)`` again and again, until a batch comes back short (or ``max_batches``)."""
    sent = refused = 0
    for _ in range(max_batches):
        result = send_batch(limit=batch_size)
        sent, refused = sent + result.sent, refused + result.refused
        if result.sent + result.refused < batch_size:
            break
    return RemindersSent(sent=sent, refused=refused)


def invitation_expiry_warnings_send(*, limit: int = 500) -> RemindersSent:
    """Send one batch of due expiry warnings, in one transaction, as reminders go: each passing the
    rules moves to `pending` with one more attempt, its ``expiry_warning_sent_at`` set (once), audited
    as expiry_warning and told as invitation.resent. One the cooldown holds back is tried on a later
    run; one another rule refuses (opened, expired, capped, suppressed) gets no warning."""
    now = timezone.now()
    with transaction.atomic():
        due = Invitation.objects.filter(expiry_warning_due_at__lte=now).order_by("expiry_warning_due_at")
        rows = list(invitations_lock(due, skip_locked=True).order_by("expiry_warning_due_at")[:limit])
        suppressions = suppressions_matching(send_target(invitation) for invitation in rows)
        eligible: list[Invitation] = []
        refused: list[Invitation] = []
        for invitation in rows:
            refusal = resend_refusal(
                invitation=invitation, now=now, suppressions=suppressions, statuses=REMINDABLE, retries={}
            )
            if refusal is None:
                eligible.append(invitation)
            elif not isinstance(refusal, CooldownActive):
                refused.append(invitation)
        if refused:
            Invitation.objects.filter(pk__in=[i.pk for i in refused]).update(expiry_warning_due_at=None)
        for invitation in eligible:
            invitation.expiry_warning_sent_at = now
            invitation.expiry_warning_due_at = None
        invitations_send_next(
            eligible,
            actor=EXPIRY_WARNING_ACTOR,
            now=now,
            reason=lifecycle.Reason.EXPIRY_WARNING,
            update_fields=("expiry_warning_sent_at", "expiry_warning_due_at"),
            message=lambda i: (
                f"Expiry warning: the link expires at {i.expires_at:%Y-%m-%d %H:%M:%S} UTC; "
                f"send attempt {i.delivery_attempts}."
            ),
        )
    return RemindersSent(sent=len(eligible), refused=len(refused))


def invitations_warn_expiring(*, batch_size: int = 500, max_batches: int = 20) -> RemindersSent:
    """The periodic job's second part: expiry warnings in batches until none is due."""
    return _in_batches(invitation_expiry_warnings_send, batch_size=batch_size, max_batches=max_batches)
