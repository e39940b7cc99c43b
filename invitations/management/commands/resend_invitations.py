"""Bulk fixes: resend a selection of invitations under the same rules and audit as the API.

    python manage.py resend_invitations --channel sms --sent-after 2026-03-01 --sent-before 2026-03-02 --dry-run

Works in batches under row locks (skip_locked: it never waits on a concurrent API resend), shows a
progress bar on a terminal, prints a summary of outcomes (``--json`` for machines) and exits
non-zero when anything failed unexpectedly. Every outcome but ``error`` is an answer, not a failure.
"""

import argparse
import getpass
import json
import logging
import time
from collections import Counter
from datetime import UTC, datetime
from datetime import time as dt_time

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_date, parse_datetime

from accounts.models import Organization
from accounts.principals import Actor
from invitations.models import Invitation
from invitations.selectors import invitation_resend_selection, normalize_token
from invitations.services import (
    RESEND_OUTCOMES,
    InvitationResendResult,
    ResendOutcome,
    invitation_resend,
    invitation_resend_many,
    resend_outcome_code,
)
from invitations_project.errors import ApiError

logger = logging.getLogger(__name__)

OUTCOME_LABELS = {
    ResendOutcome.RESENT: "resent",
    ResendOutcome.COOLDOWN: "cooldown",
    ResendOutcome.CAPPED: "capped (max attempts)",
    ResendOutcome.EXPIRED: "expired",
    ResendOutcome.WRONG_STATUS: "wrong status",
    ResendOutcome.BUSY: "busy (locked elsewhere)",
    ResendOutcome.NOT_FOUND: "not found",
    ResendOutcome.ERROR: "errors",
}
TOKEN_LOOKUP_CHUNK = 10_000


def parse_moment(value: str) -> datetime:
    """An ISO 8601 date or datetime; a date means its midnight, a naive time means UTC."""
    moment = parse_datetime(value)
    if moment is None:
        day = parse_date(value)
        if day is None:
            raise ValueError(value)
        moment = datetime.combine(day, dt_time.min)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


class ProgressBar:
    """A one-line bar redrawn with \\r on a terminal; silent anywhere else."""

    WIDTH = 30

    def __init__(self, stream, *, total: int, label: str):
        self.stream = stream
        self.total = total
        self.label = label
        self.enabled = stream.isatty() and total > 0
        self.started = time.monotonic()

    def _write(self, text: str) -> None:
        self.stream.write(text, style_func=lambda s: s, ending="")
        self.stream.flush()

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        done = min(done, self.total)
        filled = int(self.WIDTH * done / self.total)
        elapsed = max(time.monotonic() - self.started, 1e-6)
        self._write(
            f"\r{self.label} [{'#' * filled}{'.' * (self.WIDTH - filled)}] "
            f"{done}/{self.total} {100 * done / self.total:5.1f}% {done / elapsed:,.0f}/s"
        )

    def close(self) -> None:
        if self.enabled:
            self._write("\n")


class Command(BaseCommand):
    help = (
        "Resend invitations in bulk (for example after a provider outage), under the same rules, audit "
        "and delivery pipeline as the API. Refusals (cooldown, cap, expired, wrong status) are reported, "
        "not failures; the exit status is non-zero only when something failed unexpectedly."
    )

    def add_arguments(self, parser):
        parser.add_argument("--org", metavar="SLUG", help="Only this organization.")
        parser.add_argument("--channel", choices=Invitation.Channel.values, help="Only this channel.")
        parser.add_argument(
            "--status",
            default=Invitation.Status.SENT,
            help="Select invitations in this status (comma-separated for several, or 'any'). Default: sent. "
            "Only sent invitations can be resent; the others are reported as wrong status.",
        )
        parser.add_argument(
            "--mode", choices=["live", "sandbox", "any"], default="any", help="Live or sandbox invitations."
        )
        parser.add_argument("--sent-after", type=self._moment, help="sentAt at or after (ISO 8601 date or datetime).")
        parser.add_argument("--sent-before", type=self._moment, help="sentAt strictly before.")
        parser.add_argument("--created-after", type=self._moment, help="createdAt at or after.")
        parser.add_argument("--created-before", type=self._moment, help="createdAt strictly before.")
        parser.add_argument(
            "--tokens-file",
            metavar="PATH",
            help="Only these invitations: one token per line (adi_xxx or xxx); blank lines and # comments ignored.",
        )
        parser.add_argument("--limit", type=int, help="At most this many invitations (the oldest ids first).")
        parser.add_argument("--batch-size", type=int, default=500, help="Invitations per transaction (default 500).")
        parser.add_argument("--dry-run", action="store_true", help="Change nothing; report what a real run would do.")
        parser.add_argument("--json", action="store_true", help="Print the summary as JSON on stdout.")
        parser.add_argument(
            "--user",
            metavar="USERNAME",
            help="Record this staff user as the actor in the audit trail (default: the command and OS user).",
        )

    @staticmethod
    def _moment(value: str) -> datetime:
        try:
            return parse_moment(value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"not an ISO 8601 date or datetime: {value!r}") from exc

    def handle(self, *args, **options):
        if options["limit"] is not None and options["limit"] < 1:
            raise CommandError("--limit must be at least 1.")
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        actor = self._actor(options["user"])
        selection = self._selection(options)
        tokens_not_found = selection.pop("tokens_not_found")
        ids = list(invitation_resend_selection(**selection).values_list("pk", flat=True)[: options["limit"]])
        dry_run = options["dry_run"]

        counts: Counter[str] = Counter()
        counts[ResendOutcome.NOT_FOUND] += len(tokens_not_found)
        first_messages: dict[str, str] = {}
        enqueue_deferred = 0
        # -v 2 lists every invitation's outcome: as lines, or under "invitations" with --json.
        verbose = options["verbosity"] >= 2
        listed: list[dict] = []

        def enqueued(taken: bool, job_count: int) -> None:
            nonlocal enqueue_deferred
            if not taken:
                enqueue_deferred += job_count

        def record(results: list[InvitationResendResult]) -> list[int]:
            busy = []
            for result in results:
                if result.outcome == ResendOutcome.BUSY:
                    busy.append(result.invitation_id)
                    continue
                counts[result.outcome] += 1
                first_messages.setdefault(result.outcome, result.message)
                if verbose and options["json"]:
                    listed.append({"token": result.token, "outcome": result.outcome, "message": result.message})
                elif verbose:
                    self.stdout.write(f"{result.token or result.invitation_id}\t{result.outcome}\t{result.message}")
            return busy

        started = time.monotonic()
        progress = ProgressBar(self.stderr, total=len(ids), label="Dry run" if dry_run else "Resending")
        busy_ids: list[int] = []
        size = options["batch_size"]
        for offset in range(0, len(ids), size):
            batch = ids[offset : offset + size]
            busy_ids += record(self._run_batch(batch, actor=actor, dry_run=dry_run, on_enqueued=enqueued))
            progress.update(offset + len(batch))
        progress.close()
        if busy_ids:
            # Held by another transaction a moment ago (an API resend, say): look once more, still without waiting.
            still_busy = record(self._run_batch(busy_ids, actor=actor, dry_run=dry_run, on_enqueued=enqueued))
            counts[ResendOutcome.BUSY] += len(still_busy)
            if still_busy:
                first_messages.setdefault(ResendOutcome.BUSY, "Skipped: held by another transaction; run again later.")
        elapsed = time.monotonic() - started

        summary = {
            "dry_run": dry_run,
            "selected": len(ids) + len(tokens_not_found),
            "counts": {outcome: counts[outcome] for outcome in RESEND_OUTCOMES},
            "messages": {outcome: first_messages[outcome] for outcome in RESEND_OUTCOMES if outcome in first_messages},
            "enqueue_deferred": enqueue_deferred,
            "elapsed_seconds": round(elapsed, 3),
        }
        if tokens_not_found:
            summary["tokens_not_found"] = tokens_not_found[:100]
        if listed:
            summary["invitations"] = listed
        if options["json"]:
            self.stdout.write(json.dumps(summary, indent=2))
        else:
            self._print_summary(summary)
        if counts[ResendOutcome.ERROR]:
            raise CommandError(
                f"{counts[ResendOutcome.ERROR]} invitation(s) failed unexpectedly and were left unchanged; "
                "see the log, then run the same command again."
            )

    def _actor(self, username: str | None) -> Actor:
        if username is None:
            try:
                os_user = getpass.getuser()
            except (KeyError, OSError):
                os_user = "unknown"
            return Actor.system(f"resend_invitations ({os_user})")
        user = get_user_model().objects.filter(username=username, is_active=True, is_staff=True).first()
        if user is None:
            raise CommandError(f"No active staff user {username!r}.")
        return Actor.for_user(user)

    def _selection(self, options) -> dict:
        selection: dict = {"tokens_not_found": []}
        if options["org"]:
            organization = Organization.objects.filter(slug=options["org"]).first()
            if organization is None:
                raise CommandError(f"No organization {options['org']!r}.")
            selection["organization"] = organization
        status = options["status"].strip().lower()
        if status != "any":
            statuses = [s.strip() for s in status.split(",") if s.strip()]
            unknown = sorted(set(statuses) - set(Invitation.Status.values))
            if unknown or not statuses:
                choices = ", ".join(Invitation.Status.values)
                raise CommandError(f"Unknown status {', '.join(unknown) or '(none)'}; use any or one of {choices}.")
            selection["statuses"] = statuses
        if options["mode"] != "any":
            selection["livemode"] = options["mode"] == "live"
        for key in ("channel", "sent_after", "sent_before", "created_after", "created_before"):
            if options[key]:
                selection[key] = options[key]
        if options["tokens_file"]:
            tokens, not_found = self._read_tokens(options["tokens_file"], organization=selection.get("organization"))
            selection["tokens"] = tokens
            selection["tokens_not_found"] = not_found
        return selection

    def _read_tokens(self, path: str, *, organization: Organization | None) -> tuple[list[str], list[str]]:
        """The file's tokens that exist (within the organization, if given) and those that do not."""
        try:
            with open(path, encoding="utf-8") as handle:
                lines = [line.split("#", 1)[0].strip() for line in handle]
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc}") from exc
        raw_tokens = list(dict.fromkeys(line for line in lines if line))
        normalized = {raw: normalize_token(raw) for raw in raw_tokens}
        candidates = sorted({token for token in normalized.values() if token})
        existing: set[str] = set()
        scope = (
            Invitation.objects.all() if organization is None else Invitation.objects.filter(organization=organization)
        )
        for start in range(0, len(candidates), TOKEN_LOOKUP_CHUNK):
            chunk = candidates[start : start + TOKEN_LOOKUP_CHUNK]
            existing.update(scope.filter(token__in=chunk).values_list("token", flat=True))
        not_found = [raw for raw, token in normalized.items() if token not in existing]
        return sorted(existing), not_found

    def _run_batch(self, batch: list[int], *, actor: Actor, dry_run: bool, on_enqueued) -> list[InvitationResendResult]:
        try:
            return invitation_resend_many(invitation_ids=batch, actor=actor, dry_run=dry_run, on_enqueued=on_enqueued)
        except Exception:
            # The batch rolled back whole. Go row by row so one bad row does not hold back the others.
            logger.exception("Bulk resend of a batch of %d failed; retrying its invitations one by one", len(batch))
        return [self._run_one(pk, actor=actor, dry_run=dry_run, on_enqueued=on_enqueued) for pk in batch]

    def _run_one(self, pk: int, *, actor: Actor, dry_run: bool, on_enqueued) -> InvitationResendResult:
        try:
            if dry_run:
                return invitation_resend_many(invitation_ids=[pk], actor=actor, dry_run=True)[0]
            invitation = invitation_resend(invitation=Invitation(pk=pk), actor=actor)
        except Invitation.DoesNotExist:
            return InvitationResendResult(
                invitation_id=pk, token="", outcome=ResendOutcome.NOT_FOUND, message="No such invitation."
            )
        except ApiError as refusal:
            token = Invitation.objects.filter(pk=pk).values_list("token", flat=True).first() or ""
            return InvitationResendResult(
                invitation_id=pk, token=token, outcome=resend_outcome_code(refusal), message=str(refusal)
            )
        except Exception as exc:
            logger.exception("Resend of invitation %s failed", pk)
            return InvitationResendResult(
                invitation_id=pk, token="", outcome=ResendOutcome.ERROR, message=f"{type(exc).__name__}: {exc}"
            )
        return InvitationResendResult(
            invitation_id=pk,
            token=invitation.token,
            outcome=ResendOutcome.RESENT,
            message=f"Send attempt {invitation.delivery_attempts} queued.",
            delivery_attempts=invitation.delivery_attempts,
        )

    def _print_summary(self, summary: dict) -> None:
        title = "Dry run: nothing was changed. A real run now would give:" if summary["dry_run"] else "Resend summary:"
        lines = [title, f"  {'selected':<24}{summary['selected']:>8}"]
        for outcome in RESEND_OUTCOMES:
            count = summary["counts"][outcome]
            if count or outcome not in (ResendOutcome.BUSY, ResendOutcome.NOT_FOUND):
                example = summary["messages"].get(outcome, "") if outcome != ResendOutcome.RESENT else ""
                lines.append(f"  {OUTCOME_LABELS[outcome]:<24}{count:>8}" + (f"   e.g. {example}" if example else ""))
        lines.append(f"  {'elapsed':<24}{summary['elapsed_seconds']:>7.1f}s")
        self.stdout.write("\n".join(lines))
        if summary["enqueue_deferred"]:
            self.stderr.write(
                f"Redis did not take {summary['enqueue_deferred']} deliveries; they stay queued in the database "
                "and the sweeper will enqueue them."
            )
        if summary.get("tokens_not_found"):
            self.stderr.write("Tokens not found: " + ", ".join(summary["tokens_not_found"][:20]))
