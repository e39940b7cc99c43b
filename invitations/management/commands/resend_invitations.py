"""Bulk fixes: resend a selection of invitations under the same rules and audit as the API.

    python manage.py resend_invitations --channel sms --sent-after 2026-03-01 --sent-before 2026-03-02 --dry-run

With no organization and no filter it refuses, unless --all says every organization's is meant.

Works in batches under row locks (skip_locked: it never waits on a concurrent API resend), shows a
progress bar on a terminal, prints a summary of outcomes (``--json`` for machines) and exits
non-zero when anything failed unexpectedly. Every outcome but ``error`` is an answer, not a failure.
"""

import argparse
import json
from datetime import datetime

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from rest_framework import serializers
from tqdm import tqdm

from accounts.models import Organization
from accounts.principals import Actor
from api.fields import parse_bound
from invitations.exceptions import ResendOutcome
from invitations.models import Invitation
from invitations.selectors import invitation_resend_selection
from invitations.services import BulkResendSummary, invitation_resend_bulk
from invitations.tokens import normalize_token

TOKEN_LOOKUP_CHUNK = 10_000
# Options that narrow the selection; without one (or --mode live|sandbox) the command asks for --all.
SCOPE_OPTIONS = (
    "org",
    "channel",
    "sent_after",
    "sent_before",
    "created_after",
    "created_before",
    "tokens_file",
    "error_contains",
)


def _plain(text: str) -> str:
    return text


class _Unterminated:
    """Django's command output ends every write with a newline, and colours stderr as an error; a
    progress bar redraws one line, in plain text."""

    def __init__(self, wrapper):
        self.wrapper = wrapper

    def write(self, text: str) -> None:
        self.wrapper.write(text, style_func=_plain, ending="")

    def flush(self) -> None:
        self.wrapper.flush()


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
            "--failed",
            action="store_true",
            help="Send failed invitations again to their own recipient (once the address works again: its "
            "suppression lifted), as a PATCH with the same recipient does: only failed ones with no automatic "
            "retry pending, not expired, under the cap, not suppressed. Selects status failed.",
        )
        parser.add_argument(
            "--mode", choices=["live", "sandbox", "any"], default="any", help="Live or sandbox invitations."
        )
        parser.add_argument("--sent-after", type=self._moment, help="sentAt at or after (ISO 8601 date or datetime).")
        parser.add_argument("--sent-before", type=self._moment, help="sentAt strictly before.")
        parser.add_argument("--created-after", type=self._moment, help="createdAt at or after.")
        parser.add_argument("--created-before", type=self._moment, help="createdAt strictly before.")
        parser.add_argument(
            "--error-contains",
            metavar="TEXT",
            help="Only invitations whose last delivery error holds TEXT (any case), as a failure reason on the "
            "console's Delivery health page reads: with --failed, those that failed for it.",
        )
        parser.add_argument(
            "--tokens-file",
            metavar="PATH",
            help="Only these invitations: one token per line (adi_xxx or xxx); blank lines and # comments ignored.",
        )
        parser.add_argument(
            "--all",
            action="store_true",
            help="Every organization's selected invitations: needed when no organization or filter narrows it.",
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
        # The API's date parser: a date means its midnight, a naive time means UTC. As lower bounds,
        # taken as they are: --*-after includes its moment, --*-before excludes its own.
        try:
            return parse_bound(value, upper=False)
        except (serializers.ValidationError, ValueError) as exc:
            raise argparse.ArgumentTypeError(f"not an ISO 8601 date or datetime: {value!r}") from exc

    def handle(self, *args, **options):
        if options["limit"] is not None and options["limit"] < 1:
            raise CommandError("--limit must be at least 1.")
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        actor = self._actor(options["user"])
        selection = self._selection(options)
        if not options["all"] and not any(options[name] for name in SCOPE_OPTIONS) and options["mode"] == "any":
            raise CommandError(
                "Say which invitations: --org SLUG, a filter (--channel, --mode, --sent-after, --sent-before, "
                "--created-after, --created-before, --tokens-file, --error-contains), or --all for every "
                "organization's."
            )
        if options["failed"]:
            if options["status"] != Invitation.Status.SENT:
                raise CommandError("--failed selects failed invitations: leave --status out.")
            selection["statuses"] = [Invitation.Status.FAILED]
        tokens_not_found = selection.pop("tokens_not_found")
        ids = list(invitation_resend_selection(**selection).values_list("pk", flat=True)[: options["limit"]])
        dry_run = options["dry_run"]
        # A progress bar on a terminal only: redirected output stays a clean summary.
        with tqdm(
            total=len(ids),
            desc="Dry run" if dry_run else "Sending again" if options["failed"] else "Resending",
            file=_Unterminated(self.stderr),
            disable=not self.stderr.isatty() or not ids,
            bar_format="{desc} [{bar:30}] {n_fmt}/{total_fmt} {percentage:5.1f}% {rate_fmt}",
            ascii=".#",
            mininterval=0,
            leave=True,
        ) as progress:
            summary = invitation_resend_bulk(
                invitation_ids=ids,
                actor=actor,
                dry_run=dry_run,
                batch_size=options["batch_size"],
                unknown_tokens=tokens_not_found,
                on_progress=lambda done: progress.update(done - progress.n),
                again=options["failed"],
            )
        if options["json"]:
            self.stdout.write(json.dumps(self._summary_dict(summary, verbose=options["verbosity"] >= 2), indent=2))
        else:
            self._print_summary(summary, verbose=options["verbosity"] >= 2)
        if summary.errors:
            raise CommandError(
                f"{summary.errors} invitation(s) failed unexpectedly and were left unchanged; "
                "see the log, then run the same command again."
            )

    @staticmethod
    def _summary_dict(summary: BulkResendSummary, *, verbose: bool) -> dict:
        unknown = [result.token for result in summary.results if result.invitation_id is None]
        body = {
            "dry_run": summary.dry_run,
            "selected": len(summary.results),
            "counts": summary.counts,
            "messages": summary.first_messages,
            "enqueue_deferred": summary.enqueue_deferred,
            "elapsed_seconds": round(summary.elapsed_seconds, 3),
        }
        if unknown:
            body["tokens_not_found"] = unknown[:100]
        if verbose:
            body["invitations"] = [
                {"token": result.token, "outcome": result.outcome.value, "message": result.message}
                for result in summary.results
                if result.invitation_id is not None
            ]
        return body

    def _actor(self, username: str | None) -> Actor:
        if username is None:
            # API.md's actor kind for an operator's command, named with the OS user who ran it.
            return Actor.for_command("resend_invitations")
        user = get_user_model().objects.filter(username=username, is_active=True, is_staff=True).first()
        if user is None:
            raise CommandError(f"No active staff user {username!r}.")
        return Actor.for_staff(user)  # support staff acting through the command

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
        for key in ("channel", "sent_after", "sent_before", "created_after", "created_before", "error_contains"):
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

    def _print_summary(self, summary: BulkResendSummary, *, verbose: bool) -> None:
        if verbose:
            for result in summary.results:
                if result.invitation_id is not None:
                    self.stdout.write(f"{result.token or result.invitation_id}\t{result.outcome}\t{result.message}")
        title = "Dry run: nothing was changed. A real run now would give:" if summary.dry_run else "Resend summary:"
        lines = [title, f"  {'selected':<24}{len(summary.results):>8}"]
        counts, messages = summary.counts, summary.first_messages
        for outcome in ResendOutcome:
            count = counts[outcome]
            if count or outcome not in (ResendOutcome.BUSY, ResendOutcome.NOT_FOUND):
                example = messages.get(outcome, "") if outcome != ResendOutcome.RESENT else ""
                lines.append(f"  {outcome.label:<24}{count:>8}" + (f"   e.g. {example}" if example else ""))
        lines.append(f"  {'elapsed':<24}{summary.elapsed_seconds:>7.1f}s")
        self.stdout.write("\n".join(lines))
        if summary.enqueue_deferred:
            self.stderr.write(
                f"Redis did not take {summary.enqueue_deferred} deliveries; they stay queued in the database "
                "and the sweeper will enqueue them.",
                style_func=self.style.WARNING,
            )
        unknown = [result.token for result in summary.results if result.invitation_id is None]
        if unknown:
            self.stderr.write("Tokens not found: " + ", ".join(unknown[:20]), style_func=self.style.WARNING)
