"""`manage.py resend_invitations`: the API's rules and audit, in bulk, over real PostgreSQL and Redis."""

import io
import json
import threading
from collections import Counter
from datetime import timedelta

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection, connections
from django.test import TestCase

from accounts.principals import Actor
from delivery.models import DeliveryAttempt
from invitations.exceptions import InvalidStatus
from invitations.models import Invitation, InvitationEvent
from invitations.services import invitation_resend
from suppressions.models import Suppression
from tests.conftest import queued_attempt_ids
from tests.factories import StaffUserFactory, WorkflowFactory
from tests.helpers import T0

# How many of each kind the mixed population holds (1,200 invitations in all).
MIX = {
    "eligible": 400,
    "eligible_sandbox": 50,
    "cooldown": 150,
    "capped": 100,
    "expired": 100,
    "delivered": 150,
    "pending": 100,
    "failed": 100,
    "suppressed": 25,
    "other_org": 50,
}


def make_invitations(organization, kind: str, count: int, *, channel: str = "email") -> list[Invitation]:
    """Bulk-insert ``count`` invitations of one kind, as they stand at T0."""
    workflow = organization.workflows.filter(is_default=True).first() or WorkflowFactory(organization=organization)
    base = {
        "status": Invitation.Status.SENT,
        "livemode": True,
        "delivery_attempts": 1,
        "created_at": T0 - timedelta(days=1),
        "sent_at": T0 - timedelta(hours=20),
        "expires_at": T0 + timedelta(days=29),
    }
    base.update(
        {
            "eligible": {},
            "eligible_sandbox": {"livemode": False},
            "cooldown": {"sent_at": T0 - timedelta(seconds=60)},
            "capped": {"delivery_attempts": 10},
            "expired": {"created_at": T0 - timedelta(days=31), "expires_at": T0 - timedelta(days=1)},
            "delivered": {"status": Invitation.Status.DELIVERED},
            "pending": {"status": Invitation.Status.PENDING, "sent_at": None},
            "failed": {"status": Invitation.Status.FAILED},
            "suppressed": {},
            "other_org": {},
        }[kind]
    )
    rows = [
        Invitation(
            organization=organization,
            workflow=workflow,
            channel=channel,
            recipient=f"{kind}-{i}@example.com" if channel == "email" else f"+1415555{i:04d}",
            reference=kind,
            **base,
        )
        for i in range(count)
    ]
    if kind == "suppressed":
        # Their addresses bounced before, each in another case than the invitation has it.
        Suppression.objects.bulk_create(
            Suppression(
                organization=organization,
                livemode=True,
                channel=row.channel,
                recipient=row.recipient,
                reason=Suppression.Reason.HARD_BOUNCE,
                created_at=T0 - timedelta(days=2),
                created_by_kind="system",
                created_by_label="system:anymail:postmark",
            )
            for row in rows
        )
        for row in rows:
            row.recipient = row.recipient.replace("suppressed", "Suppressed")
    return Invitation.objects.bulk_create(rows)


@pytest.fixture
def mixed(organization, other_organization):
    """1,200 invitations of every kind in ``organization``, plus eligible ones in another organization."""
    for kind, count in MIX.items():
        make_invitations(other_organization if kind == "other_org" else organization, kind, count)
    return organization


def run(*args) -> dict:
    """Run the command and its after-commit enqueues, as a real run commits them."""
    out, err = io.StringIO(), io.StringIO()
    with TestCase.captureOnCommitCallbacks(execute=True):
        call_command("resend_invitations", *args, "--json", stdout=out, stderr=err)
    return json.loads(out.getvalue())


def snapshot() -> list[tuple]:
    return list(
        Invitation.objects.order_by("pk").values_list(
            "pk", "status", "delivery_attempts", "sent_at", "updated_at", "error_message"
        )
    )


EXPECTED_MIXED = {
    "resent": MIX["eligible"] + MIX["eligible_sandbox"],
    "cooldown": MIX["cooldown"],
    "capped": MIX["capped"],
    "expired": MIX["expired"],
    "wrong_status": MIX["delivered"] + MIX["pending"] + MIX["failed"],
    "canceled": 0,
    "suppressed": MIX["suppressed"],
    "busy": 0,
    "not_found": 0,
    "error": 0,
}


@pytest.mark.django_db
def test_dry_run_changes_nothing_and_predicts_the_real_runs_counts(mixed, delivery_queue):
    before = snapshot()
    with time_machine.travel(T0, tick=False):
        dry = run("--org", mixed.slug, "--status", "any", "--dry-run")
    assert dry["dry_run"] is True
    assert dry["selected"] == 1175
    assert dry["counts"] == EXPECTED_MIXED
    assert snapshot() == before
    assert not InvitationEvent.objects.exists()
    assert not DeliveryAttempt.objects.exists()
    assert delivery_queue.count == 0

    with time_machine.travel(T0, tick=False):
        real = run("--org", mixed.slug, "--status", "any", "--batch-size", "97")
    assert real["dry_run"] is False
    assert real["counts"] == dry["counts"]
    assert real["enqueue_deferred"] == 0
    assert real["messages"]["cooldown"].endswith("(remaining_seconds=120)")


@pytest.mark.django_db
def test_a_real_run_resends_exactly_the_eligible_invitations_with_the_apis_audit_and_deliveries(mixed, delivery_queue):
    eligible = set(
        Invitation.objects.filter(organization=mixed, reference__in=["eligible", "eligible_sandbox"]).values_list(
            "pk", flat=True
        )
    )
    untouched_before = {row[0]: row for row in snapshot() if row[0] not in eligible}
    with time_machine.travel(T0, tick=False):
        summary = run("--org", mixed.slug, "--status", "any")
    assert summary["counts"]["resent"] == len(eligible) == 450

    resent = Invitation.objects.filter(pk__in=eligible)
    assert set(resent.values_list("status", "sent_at", "delivery_attempts")) == {(Invitation.Status.PENDING, None, 2)}
    assert {row[0]: row for row in snapshot() if row[0] not in eligible} == untouched_before

    events = InvitationEvent.objects.all()
    assert events.count() == 450
    assert set(events.values_list("invitation_id", flat=True)) == eligible
    assert set(events.values_list("from_status", "to_status", "reason", "actor_kind", "message", "created_at")) == {
        ("sent", "pending", "resend", "command", "Send attempt 2 requested.", T0)
    }
    [label] = set(events.values_list("actor_label", flat=True))
    assert label.startswith("command:resend_invitations (")
    attempts = DeliveryAttempt.objects.all()
    assert set(attempts.values_list("invitation_id", flat=True)) == eligible
    assert set(attempts.values_list("number", "status")) == {(2, DeliveryAttempt.Status.QUEUED)}
    assert sorted(queued_attempt_ids(delivery_queue, with_sandbox=True)) == sorted(
        attempts.values_list("pk", flat=True)
    )


@pytest.mark.django_db
def test_a_second_run_right_after_resends_nothing_new(mixed, delivery_queue):
    with time_machine.travel(T0, tick=False):
        first = run("--org", mixed.slug)
    with time_machine.travel(T0 + timedelta(seconds=5), tick=False):
        second = run("--org", mixed.slug)
        second_any = run("--org", mixed.slug, "--status", "any")
    assert first["counts"]["resent"] == 450
    assert second["counts"]["resent"] == 0
    assert second_any["counts"]["resent"] == 0
    assert second_any["counts"]["wrong_status"] == 350 + 450  # the resent ones are pending now
    assert DeliveryAttempt.objects.count() == 450
    assert len(queued_attempt_ids(delivery_queue, with_sandbox=True)) == 450


@pytest.mark.django_db
def test_after_the_worker_delivers_them_a_second_run_finds_them_in_cooldown(organization, run_worker):
    make_invitations(organization, "eligible", 12)
    with time_machine.travel(T0, tick=False):
        first = run("--all")
        run_worker()
        second = run("--all")
    assert first["counts"]["resent"] == 12
    assert Invitation.objects.filter(status=Invitation.Status.SENT, sent_at=T0, delivery_attempts=2).count() == 12
    assert second["counts"]["resent"] == 0
    assert second["counts"]["cooldown"] == 12
    assert DeliveryAttempt.objects.filter(status=DeliveryAttempt.Status.ACCEPTED).count() == 12


@pytest.mark.django_db
def test_the_default_selection_is_sent_invitations_only(mixed):
    with time_machine.travel(T0, tick=False):
        summary = run("--org", mixed.slug, "--dry-run")
    assert summary["selected"] == 450 + 150 + 100 + 100 + 25
    assert summary["counts"]["wrong_status"] == 0


@pytest.mark.django_db
def test_filters_narrow_the_selection(organization, other_organization):
    make_invitations(organization, "eligible", 5, channel="sms")
    make_invitations(organization, "eligible", 7, channel="email")
    make_invitations(organization, "eligible_sandbox", 3, channel="sms")
    make_invitations(other_organization, "eligible", 11, channel="sms")
    late = make_invitations(organization, "eligible", 4, channel="sms")
    Invitation.objects.filter(pk__in=[i.pk for i in late]).update(
        sent_at=T0 - timedelta(hours=2), created_at=T0 - timedelta(hours=3)
    )
    with time_machine.travel(T0, tick=False):
        assert run("--all", "--dry-run")["selected"] == 30
        assert run("--dry-run", "--org", organization.slug)["selected"] == 19
        assert run("--dry-run", "--org", organization.slug, "--channel", "sms")["selected"] == 12
        assert run("--dry-run", "--org", organization.slug, "--channel", "sms", "--mode", "live")["selected"] == 9
        assert run("--dry-run", "--org", organization.slug, "--mode", "sandbox")["selected"] == 3
        window = ["--sent-after", (T0 - timedelta(hours=3)).isoformat(), "--sent-before", T0.isoformat()]
        assert run("--dry-run", *window)["selected"] == 4
        assert run("--dry-run", "--created-after", (T0 - timedelta(hours=4)).isoformat())["selected"] == 4
        assert run("--dry-run", "--created-before", (T0 - timedelta(hours=4)).isoformat())["selected"] == 26
        assert run("--all", "--dry-run", "--limit", "6")["selected"] == 6
        limited = run("--all", "--limit", "6")
    assert limited["counts"]["resent"] == 6
    assert Invitation.objects.filter(status=Invitation.Status.PENDING).count() == 6


@pytest.mark.django_db
def test_a_tokens_file_selects_those_invitations_and_reports_unknown_tokens(organization, other_organization, tmp_path):
    ours = make_invitations(organization, "eligible", 3)
    theirs = make_invitations(other_organization, "eligible", 1)
    make_invitations(organization, "eligible", 5)  # not listed
    tokens_file = tmp_path / "tokens.txt"
    tokens_file.write_text(
        "# lost in the outage\n"
        f"{ours[0].token}\n"
        f"{ours[1].token.removeprefix('adi_')}   # raw form\n"
        f"\n{ours[2].token}\n{ours[2].token}\n"
        f"{theirs[0].token}\n"
        "adi_doesnotexist\n"
        "not a token!\n"
    )
    with time_machine.travel(T0, tick=False):
        summary = run("--org", organization.slug, "--tokens-file", str(tokens_file))
    assert summary["counts"]["resent"] == 3
    assert summary["counts"]["not_found"] == 3
    assert summary["tokens_not_found"] == [theirs[0].token, "adi_doesnotexist", "not a token!"]
    assert set(Invitation.objects.filter(status=Invitation.Status.PENDING).values_list("pk", flat=True)) == {
        i.pk for i in ours
    }


@pytest.mark.django_db
def test_the_user_option_records_that_staff_user_as_the_actor(organization):
    make_invitations(organization, "eligible", 2)
    agent = StaffUserFactory(username="ops-ana")
    with time_machine.travel(T0, tick=False):
        run("--all", "--user", "ops-ana")
    assert set(InvitationEvent.objects.values_list("actor_kind", "actor_label", "actor_user_id")) == {
        ("staff", "staff:ops-ana", agent.pk)
    }


@pytest.mark.django_db
def test_bad_options_are_refused_before_anything_changes(organization):
    make_invitations(organization, "eligible", 2)
    for args, phrase in [
        (["--org", "nope"], "No organization"),
        (["--status", "sent,nonsense"], "Unknown status nonsense"),
        (["--sent-before", "yesterday"], "ISO 8601"),
        (["--limit", "0"], "--limit"),
        (["--user", "nobody"], "No active staff user"),
        (["--tokens-file", "/nonexistent/tokens.txt"], "Cannot read"),
    ]:
        with pytest.raises(CommandError, match=phrase):
            call_command("resend_invitations", *args, stdout=io.StringIO(), stderr=io.StringIO())
    assert not InvitationEvent.objects.exists()


@pytest.mark.django_db
def test_the_text_summary_lists_every_outcome_with_the_rules_own_message(mixed):
    out = io.StringIO()
    with time_machine.travel(T0, tick=False):
        call_command("resend_invitations", "--org", mixed.slug, "--status", "any", "--dry-run", stdout=out)
    text = out.getvalue()
    assert text.startswith("Dry run: nothing was changed.")
    rows = {line[:26].strip(): line[26:].split()[0] for line in text.splitlines()[1:]}
    assert rows["resent"] == "450"
    assert rows["cooldown"] == "150"
    assert rows["capped (max attempts)"] == "100"
    assert rows["expired"] == "100"
    assert rows["wrong status"] == "350"
    assert rows["errors"] == "0"
    assert "(remaining_seconds=120)" in text
    assert "maximum of 10 send attempts" in text
    assert "has expired" in text


@pytest.mark.django_db
def test_the_progress_bar_is_drawn_only_on_a_terminal(organization):
    make_invitations(organization, "eligible", 30)

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    tty, pipe = Terminal(), io.StringIO()
    with time_machine.travel(T0, tick=False):
        call_command("resend_invitations", "--all", "--dry-run", "--batch-size", "10", stdout=io.StringIO(), stderr=tty)
        call_command(
            "resend_invitations", "--all", "--dry-run", "--batch-size", "10", stdout=io.StringIO(), stderr=pipe
        )
    frames = [frame.split("]")[1].split()[0] for frame in tty.getvalue().split("\r") if "]" in frame]
    # The bar starts empty, is redrawn after each batch of 10, and stays at the end (tqdm draws the
    # last frame again when it closes).
    assert list(dict.fromkeys(frames)) == ["0/30", "10/30", "20/30", "30/30"]
    assert tty.getvalue().endswith("\n")
    assert pipe.getvalue() == ""
    # On a colour terminal Django paints stderr as an error: the bar is progress, drawn plain.
    coloured = Terminal()
    with time_machine.travel(T0, tick=False):
        call_command(
            "resend_invitations", "--all", "--dry-run", force_color=True, stdout=io.StringIO(), stderr=coloured
        )
    assert "30/30" in coloured.getvalue()
    assert "\x1b[" not in coloured.getvalue()


@pytest.mark.django_db(transaction=True)
def test_an_unexpected_failure_is_counted_leaves_that_row_unchanged_and_exits_non_zero(organization):
    rows = make_invitations(organization, "eligible", 20)
    broken = rows[7]
    with connection.cursor() as cursor:
        # A real database error on one row, the way a broken constraint or trigger would raise it.
        cursor.execute(
            f"""
            CREATE FUNCTION refuse_invitation_{broken.pk}() RETURNS trigger AS $$
            BEGIN RAISE EXCEPTION 'refused by test trigger'; END $$ LANGUAGE plpgsql;
            CREATE TRIGGER refuse_{broken.pk} BEFORE UPDATE ON invitations_invitation
            FOR EACH ROW WHEN (OLD.id = {broken.pk}) EXECUTE FUNCTION refuse_invitation_{broken.pk}();
            """
        )
    out = io.StringIO()
    try:
        with time_machine.travel(T0, tick=False), pytest.raises(CommandError, match="1 invitation"):
            call_command(
                "resend_invitations", "--all", "--json", "--batch-size", "10", stdout=out, stderr=io.StringIO()
            )
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TRIGGER refuse_{broken.pk} ON invitations_invitation")
            cursor.execute(f"DROP FUNCTION refuse_invitation_{broken.pk}()")
    summary = json.loads(out.getvalue())
    assert summary["counts"]["resent"] == 19
    assert summary["counts"]["error"] == 1
    broken.refresh_from_db()
    assert (broken.status, broken.delivery_attempts) == (Invitation.Status.SENT, 1)
    assert not DeliveryAttempt.objects.filter(invitation=broken).exists()
    assert Invitation.objects.filter(status=Invitation.Status.PENDING, delivery_attempts=2).count() == 19


@pytest.mark.django_db(transaction=True)
def test_when_redis_is_down_the_resends_commit_and_their_attempts_stay_queued_for_the_sweeper(organization, settings):
    make_invitations(organization, "eligible", 25)
    settings.RQ_QUEUES = {**settings.RQ_QUEUES, "delivery": {"URL": "redis://127.0.0.1:1/0", "DEFAULT_TIMEOUT": 60}}
    err = io.StringIO()
    with time_machine.travel(T0, tick=False):
        out = io.StringIO()
        call_command("resend_invitations", "--all", "--batch-size", "10", stdout=out, stderr=err)
    assert "resent" in out.getvalue()
    assert "Redis did not take 25 deliveries" in err.getvalue()
    assert Invitation.objects.filter(status=Invitation.Status.PENDING, delivery_attempts=2).count() == 25
    assert DeliveryAttempt.objects.filter(status=DeliveryAttempt.Status.QUEUED).count() == 25


@pytest.mark.django_db(transaction=True)
def test_a_concurrent_api_resend_on_the_same_rows_never_double_sends(organization, delivery_queue):
    rows = make_invitations(organization, "eligible", 1000)
    ids = [row.pk for row in rows]
    api_actor = Actor.system("concurrent-api")
    start = threading.Barrier(2)
    api_outcomes: Counter[str] = Counter()
    command_summary: dict = {}
    failures: list[BaseException] = []

    def command():
        try:
            start.wait()
            out = io.StringIO()
            call_command(
                "resend_invitations", "--all", "--json", "--batch-size", "25", stdout=out, stderr=io.StringIO()
            )
            command_summary.update(json.loads(out.getvalue()))
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)
        finally:
            connections.close_all()

    def api():
        try:
            start.wait()
            # From the other end, so the two meet in the middle and fight over the same rows.
            for pk in reversed(ids):
                try:
                    invitation_resend(invitation=Invitation(pk=pk), actor=api_actor)
                    api_outcomes["resent"] += 1
                except InvalidStatus:
                    api_outcomes["wrong_status"] += 1
        except BaseException as exc:
            failures.append(exc)
        finally:
            connections.close_all()

    with time_machine.travel(T0, tick=True):
        threads = [threading.Thread(target=command), threading.Thread(target=api)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
    assert not failures, failures
    assert not any(thread.is_alive() for thread in threads)

    counts = command_summary["counts"]
    assert counts["error"] == 0
    assert counts["resent"] + api_outcomes["resent"] == 1000
    assert api_outcomes["resent"] > 0 and counts["resent"] > 0, (counts, api_outcomes)
    # Every invitation was resent exactly once: one attempt, one audit row, one job.
    assert set(Invitation.objects.values_list("status", "delivery_attempts")) == {(Invitation.Status.PENDING, 2)}
    per_invitation = Counter(DeliveryAttempt.objects.values_list("invitation_id", flat=True))
    assert set(per_invitation) == set(ids) and set(per_invitation.values()) == {1}
    assert InvitationEvent.objects.filter(reason="resend").count() == 1000
    job_args = queued_attempt_ids(delivery_queue)
    assert len(job_args) == len(set(job_args)) == 1000


@pytest.mark.django_db
def test_verbosity_two_lists_every_invitations_outcome_and_keeps_json_parseable(organization):
    eligible = make_invitations(organization, "eligible", 1)[0]
    capped = make_invitations(organization, "capped", 1)[0]
    with time_machine.travel(T0, tick=False):
        listed = run("--all", "--dry-run", "-v", "2")["invitations"]
        out = io.StringIO()
        call_command("resend_invitations", "--all", "--dry-run", "-v", "2", stdout=out)
    assert listed == [
        {"token": eligible.token, "outcome": "resent", "message": "Would queue send attempt 2."},
        {
            "token": capped.token,
            "outcome": "capped",
            "message": "This invitation has reached the maximum of 10 send attempts. "
            "Create a new invitation to continue contacting the recipient.",
        },
    ]
    assert f"{capped.token}\tcapped\tThis invitation has reached the maximum" in out.getvalue()


@pytest.mark.django_db
def test_a_run_with_no_organization_or_filter_refuses_and_asks_for_all(mixed):
    attempts = DeliveryAttempt.objects.count()
    with pytest.raises(CommandError, match="--org SLUG, a filter .* or --all"):
        call_command("resend_invitations", stdout=io.StringIO(), stderr=io.StringIO())
    assert DeliveryAttempt.objects.count() == attempts
    assert run("--all", "--dry-run")["selected"] > 0


@pytest.mark.django_db
def test_failed_sends_failed_for_good_invitations_again_under_the_same_rules(organization, delivery_queue):
    from tests.factories import InvitationFactory

    def failed(recipient: str, **fields) -> Invitation:
        return InvitationFactory(
            organization=organization,
            recipient=recipient,
            status=Invitation.Status.FAILED,
            created_at=T0 - timedelta(days=1),
            error_message="Recipient refused",
            **fields,
        )

    lifted = failed("lifted@example.com")
    retrying = failed("retrying@example.com")
    DeliveryAttempt.objects.create(
        invitation=retrying,
        number=1,
        channel="email",
        recipient=retrying.recipient,
        livemode=True,
        status=DeliveryAttempt.Status.RETRYING,
        tries=1,
        retry_at=T0 + timedelta(minutes=5),
    )
    suppressed = failed("still-bounced@example.com")
    Suppression.objects.create(
        organization=organization,
        livemode=True,
        channel="email",
        recipient=suppressed.recipient,
        reason=Suppression.Reason.HARD_BOUNCE,
        created_at=T0 - timedelta(hours=1),
    )
    expired = failed("expired@example.com", expires_at=T0 - timedelta(minutes=1))
    capped = failed("capped@example.com", delivery_attempts=10)
    sent = InvitationFactory(organization=organization, sent_at=T0 - timedelta(hours=1))

    with time_machine.travel(T0, tick=False):
        dry = run("--org", organization.slug, "--failed", "--dry-run")
        real = run("--org", organization.slug, "--failed")
        again = run("--org", organization.slug, "--failed")
    expected = {"resent": 1, "wrong_status": 1, "suppressed": 1, "expired": 1, "capped": 1}
    for summary in (dry, real):
        assert {k: v for k, v in summary["counts"].items() if v} == expected
    assert "retried automatically" in real["messages"]["wrong_status"]
    assert again["counts"]["resent"] == 0  # the one sent again is pending now, not failed
    lifted.refresh_from_db()
    assert (lifted.status, lifted.delivery_attempts, lifted.recipient) == (
        Invitation.Status.PENDING,
        2,
        "lifted@example.com",
    )
    row = InvitationEvent.objects.get(invitation=lifted)
    assert (row.reason, row.from_status, row.actor_kind) == ("recipient_corrected", "failed", "command")
    assert row.message == "Sent again to lifted@example.com; send attempt 2 requested."
    [attempt] = DeliveryAttempt.objects.filter(invitation=lifted)
    assert queued_attempt_ids(delivery_queue) == [attempt.pk]
    for untouched in (retrying, suppressed, expired, capped, sent):
        before = untouched.status, untouched.delivery_attempts
        untouched.refresh_from_db()
        assert (untouched.status, untouched.delivery_attempts) == before
    with pytest.raises(CommandError, match="leave --status out"):
        call_command("resend_invitations", "--org", organization.slug, "--failed", "--status", "sent,failed")


@pytest.mark.django_db
def test_error_contains_sends_again_only_those_that_failed_for_that_reason(organization, other_organization):
    from tests.factories import InvitationFactory

    def failed(organization, recipient: str, error: str) -> Invitation:
        return InvitationFactory(
            organization=organization,
            recipient=recipient,
            status=Invitation.Status.FAILED,
            created_at=T0 - timedelta(days=1),
            error_message=error,
        )

    outage = [failed(organization, f"p{n}@example.com", "Postmark API 500: Internal server error") for n in range(3)]
    other_reason = failed(organization, "q@example.com", "Recipient refused: inactive address")
    elsewhere = failed(other_organization, "r@example.com", "Postmark API 500: Internal server error")
    with time_machine.travel(T0, tick=False):
        dry = run("--org", organization.slug, "--failed", "--error-contains", "internal SERVER error", "--dry-run")
        real = run("--org", organization.slug, "--failed", "--error-contains", "internal SERVER error")
    assert dry["selected"] == real["selected"] == 3
    assert dry["counts"]["resent"] == real["counts"]["resent"] == 3
    assert all(i.status == Invitation.Status.PENDING for i in Invitation.objects.filter(pk__in=[i.pk for i in outage]))
    for untouched in (other_reason, elsewhere):
        untouched.refresh_from_db()
        assert (untouched.status, untouched.delivery_attempts) == (Invitation.Status.FAILED, 1)
