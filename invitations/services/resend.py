"""Resending: the rules in the contract's order, one invitation under its row lock, a batch in one
transaction, and the bulk resend that the admin action and the management command present."""

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from accounts.principals import Actor
from api.errors import ApiError
from delivery.selectors import delivery_retries_due
from delivery.services.queueing import delivery_attempts_queue
from invitations.exceptions import ResendOutcome, resend_outcome_of
from invitations.models import Invitation, InvitationEvent
from invitations.rules import resend_refusal, send_again_refusal, send_target
from invitations.selectors import InvitationLookup
from invitations.services.transitions import invitation_lock, invitations_lock, transitions_apply
from ops.metrics import RESENDS, count_on_commit
from suppressions.selectors import suppressions_matching

logger = logging.getLogger(__name__)


# What a send changes on an invitation besides its status (``invitations_send_next``).
SEND_FIELDS = ("sent_at", "delivery_attempts", "error_message")


def invitations_send_next(
    invitations: Sequence[Invitation],
    *,
    actor: Actor,
    now: datetime,
    on_enqueued: Callable[[bool, int], None] | None = None,
    reason: InvitationEvent.Reason | None = None,
    update_fields: Sequence[str] = (),
    message: Callable[[Invitation], str] | None = None,
    event_data: Callable[[Invitation], dict] | None = None,
) -> None:
    """The one send after the first, for one locked row or many that passed their rules (a resend,
    a reminder, a correction): each moves to `pending` with one more attempt, not yet sent and
    without the last error, writes its audit row and webhook event, and gets its DeliveryAttempt,
    whose job is enqueued after commit. ``update_fields`` names what the caller changed besides."""
    if not invitations:
        return
    for invitation in invitations:
        invitation.sent_at = None
        invitation.delivery_attempts += 1
        invitation.error_message = ""
    transitions_apply(
        invitations=invitations,
        to_status=Invitation.Status.PENDING,
        actor=actor,
        now=now,
        message=message or (lambda invitation: f"Send attempt {invitation.delivery_attempts} requested."),
        reason=reason,
        update_fields=(*SEND_FIELDS, *update_fields),
        event_data=event_data,
    )
    delivery_attempts_queue(invitations=invitations, actor=actor, on_enqueued=on_enqueued)


def invitation_resend(*, invitation: Invitation | InvitationLookup, actor: Actor) -> Invitation:
    """Move a `sent` invitation back to `pending` and queue a fresh delivery after commit; counted in
    invitations_resends_total (a refusal at once, a resend once it commits). Named by a lookup, the
    invitation is found and locked in one statement (InvitationNotFound when it is not there)."""
    try:
        invitation = _resend(invitation=invitation, actor=actor)
    except ApiError as refusal:
        RESENDS.labels(outcome=resend_outcome_of(refusal)).inc()
        raise
    count_on_commit(RESENDS, outcome=ResendOutcome.RESENT)
    return invitation


def _resend(*, invitation: Invitation | InvitationLookup, actor: Actor) -> Invitation:
    with transaction.atomic():
        # Lock the row before checking the rules: two concurrent resends must not both see `sent`
        # and both queue a delivery.
        invitation = invitation_lock(invitation)
        now = timezone.now()
        refusal = resend_refusal(invitation=invitation, now=now)
        if refusal is not None:
            raise refusal
        invitations_send_next([invitation], actor=actor, now=now)
    return invitation


@dataclass(frozen=True)
class InvitationResendResult:
    invitation_id: int | None
    token: str
    outcome: ResendOutcome
    message: str = ""
    delivery_attempts: int | None = None


BUSY_MESSAGE = "Skipped: another transaction (a resend in progress, say) holds this invitation."


def invitation_resend_many(
    *,
    invitation_ids: Sequence[int],
    actor: Actor,
    dry_run: bool = False,
    on_enqueued: Callable[[bool, int], None] | None = None,
    again: bool = False,
) -> list[InvitationResendResult]:
    """``invitation_resend`` for a batch: the same rules (``resend_refusal``), audit rows and delivery
    attempts, in one transaction with one UPDATE, two INSERTs and one Redis pipeline after commit.

    Rows another transaction holds (a concurrent API resend, say) are skipped rather than waited
    for and come back ``busy``, unchanged. With ``dry_run`` nothing is locked or written and the
    results say what a real run would do now. ``on_enqueued`` hears after commit whether Redis
    took the deliveries (when it did not, the attempts stay queued for the sweeper). With ``again``,
    `failed` invitations are sent again to their own recipient, as a PATCH with the same recipient
    does (``send_again_refusal``'s rules; audited as recipient_corrected).
    """
    wanted = list(dict.fromkeys(invitation_ids))
    if not wanted:
        return []
    with transaction.atomic():
        rows = Invitation.objects.filter(pk__in=wanted)
        if dry_run:
            rows = rows.order_by("pk")
        else:
            # Lock the rows before checking the rules that depend on them, as invitation_resend does;
            # skip_locked so a bulk run never waits on (or deadlocks with) a resend in progress.
            rows = invitations_lock(rows, skip_locked=True)
        invitations = {invitation.pk: invitation for invitation in rows}
        now = timezone.now()
        results: dict[int, InvitationResendResult] = {}
        eligible: list[Invitation] = []
        suppressions = suppressions_matching(send_target(invitation) for invitation in invitations.values())
        failed = [pk for pk, invitation in invitations.items() if invitation.status == Invitation.Status.FAILED]
        retries = delivery_retries_due(invitation_ids=failed) if failed else {}
        rules = send_again_refusal if again else resend_refusal
        for invitation in invitations.values():
            refusal = rules(invitation=invitation, now=now, suppressions=suppressions, retries=retries)
            if refusal is None:
                eligible.append(invitation)
            else:
                results[invitation.pk] = _refused(
                    invitation.pk, invitation.token, refusal, invitation.delivery_attempts
                )
        if not dry_run and again:
            invitations_send_next(
                eligible,
                actor=actor,
                now=now,
                on_enqueued=on_enqueued,
                reason=InvitationEvent.Reason.RECIPIENT_CORRECTED,
                message=lambda i: f"Sent again to {i.recipient}; send attempt {i.delivery_attempts} requested.",
                event_data=lambda i: {"previousRecipient": i.recipient},
            )
        elif not dry_run:
            invitations_send_next(eligible, actor=actor, now=now, on_enqueued=on_enqueued)
        for invitation in eligible:
            message = (
                f"Would queue send attempt {invitation.delivery_attempts + 1}."
                if dry_run
                else f"Send attempt {invitation.delivery_attempts} queued."
            )
            results[invitation.pk] = InvitationResendResult(
                invitation.pk, invitation.token, ResendOutcome.RESENT, message, invitation.delivery_attempts
            )
        results.update(_busy_or_gone([pk for pk in wanted if pk not in invitations]))
    return [results[pk] for pk in wanted]


def _busy_or_gone(missing: list[int]) -> dict[int, InvitationResendResult]:
    """Rows skip_locked did not return: held by another transaction, or deleted meanwhile."""
    if not missing:
        return {}
    existing = dict(Invitation.objects.filter(pk__in=missing).values_list("pk", "token"))
    return {
        pk: InvitationResendResult(pk, existing[pk], ResendOutcome.BUSY, BUSY_MESSAGE)
        if pk in existing
        else _not_found(pk)
        for pk in missing
    }


def _count_outcomes(results) -> None:
    """The bulk resend's results in invitations_resends_total, once its batches have committed."""
    for outcome, count in Counter(result.outcome for result in results).items():
        RESENDS.labels(outcome=outcome).inc(count)


def _refused(pk: int, token: str, refusal: Exception, attempts: int | None = None) -> InvitationResendResult:
    return InvitationResendResult(pk, token, resend_outcome_of(refusal), str(refusal), attempts)


def _not_found(pk: int | None, token: str = "") -> InvitationResendResult:
    return InvitationResendResult(pk, token, ResendOutcome.NOT_FOUND, "No such invitation.")


def _resend_one(pk: int, *, actor: Actor, dry_run: bool, again: bool = False) -> InvitationResendResult:
    """One row on its own transaction, waiting for its lock: where a batch failed, or a row stayed busy."""
    try:
        if dry_run or again:
            return invitation_resend_many(invitation_ids=[pk], actor=actor, dry_run=dry_run, again=again)[0]
        invitation = _resend(invitation=Invitation(pk=pk), actor=actor)
    except Invitation.DoesNotExist:
        return _not_found(pk)
    except ApiError as refusal:
        return _refused(pk, Invitation.objects.filter(pk=pk).values_list("token", flat=True).first() or "", refusal)
    except Exception as exc:
        # Its transaction rolled back: nothing half-done. Say so, and go on with the others.
        logger.exception("Resend of invitation %s failed", pk)
        return InvitationResendResult(pk, "", ResendOutcome.ERROR, f"{type(exc).__name__}: {exc}")
    message = f"Send attempt {invitation.delivery_attempts} queued."
    return InvitationResendResult(pk, invitation.token, ResendOutcome.RESENT, message, invitation.delivery_attempts)


@dataclass
class BulkResendSummary:
    """What a bulk resend did: every invitation's result in the order asked, and the totals."""

    dry_run: bool
    results: list[InvitationResendResult] = field(default_factory=list)
    # Deliveries Redis did not take after commit: their attempts stay queued for the sweeper.
    enqueue_deferred: int = 0
    elapsed_seconds: float = 0.0

    @property
    def counts(self) -> dict[str, int]:
        counted = Counter(result.outcome for result in self.results)
        return {outcome.value: counted[outcome] for outcome in ResendOutcome}

    @property
    def first_messages(self) -> dict[str, str]:
        messages: dict[str, str] = {}
        for result in self.results:
            messages.setdefault(result.outcome.value, result.message)
        return messages

    @property
    def errors(self) -> int:
        return self.counts[ResendOutcome.ERROR]


def invitation_resend_bulk(
    *,
    invitation_ids: Sequence[int],
    actor: Actor,
    dry_run: bool = False,
    batch_size: int = 500,
    wait_for_busy: bool = False,
    unknown_tokens: Sequence[str] = (),
    on_progress: Callable[[int], None] | None = None,
    again: bool = False,
) -> BulkResendSummary:
    """Resend many invitations under the API's rules, in batches (``invitation_resend_many``).

    A batch that fails as a whole (a database error on one row) is retried row by row, so one bad
    row holds back no other. Rows busy in another transaction get a second look once the batches are
    done; still busy, they are reported ``busy`` (or, with ``wait_for_busy``, resent one by one,
    waiting for their locks: for a person waiting on a few rows). ``unknown_tokens`` are reported
    ``not_found``. ``on_progress(done)`` hears after each batch. ``again``: send `failed`
    invitations again to their own recipient (``invitation_resend_many``).
    """
    started = time.monotonic()
    summary = BulkResendSummary(dry_run=dry_run)

    def enqueued(taken: bool, job_count: int) -> None:
        if not taken:
            summary.enqueue_deferred += job_count

    def run_batch(batch: list[int]) -> list[InvitationResendResult]:
        try:
            return invitation_resend_many(
                invitation_ids=batch, actor=actor, dry_run=dry_run, on_enqueued=enqueued, again=again
            )
        except Exception:
            logger.exception("Bulk resend of a batch of %d failed; retrying its invitations one by one", len(batch))
        return [_resend_one(pk, actor=actor, dry_run=dry_run, again=again) for pk in batch]

    ids = list(dict.fromkeys(invitation_ids))
    final: dict[int | None, InvitationResendResult] = {}
    for offset in range(0, len(ids), batch_size):
        batch = ids[offset : offset + batch_size]
        final.update((result.invitation_id, result) for result in run_batch(batch))
        if on_progress is not None:
            on_progress(offset + len(batch))
    busy = [pk for pk, result in final.items() if pk is not None and result.outcome == ResendOutcome.BUSY]
    if busy:
        # Held by another transaction a moment ago (an API resend, say): look once more.
        if wait_for_busy:
            second = [_resend_one(pk, actor=actor, dry_run=dry_run, again=again) for pk in busy]
        else:
            second = run_batch(busy)
        final.update((result.invitation_id, result) for result in second)
    summary.results = [final[pk] for pk in ids] + [_not_found(None, token) for token in unknown_tokens]
    if not dry_run:
        # Once per invitation, by its final outcome (a busy row looked at twice counts once).
        _count_outcomes(summary.results)
    summary.elapsed_seconds = time.monotonic() - started
    return summary
