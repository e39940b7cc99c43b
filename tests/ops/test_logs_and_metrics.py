"""What a log line may say (masked addresses, no secrets, the request's fields) and when a counter counts."""

import json
import logging
from datetime import timedelta

import pytest
from django.db import transaction

from accounts.principals import Actor
from invitations.services import invitation_resend
from ops.context import log_context
from ops.logs import ContextFilter, JsonLineFormatter, TextFormatter, mask
from ops.metrics import RESENDS
from tests.factories import InvitationFactory


@pytest.mark.parametrize(
    ("line", "masked"),
    [
        ("to ana.maria@example.com.", "to a***@example.com."),
        ("sms to +447911123423 failed", "sms to +4479******23 failed"),
        ("key private_sandbox_Ab12Cd34Ef56Gh78 used", "key private_[secret] used"),
        ("secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "secret whsec_[secret]"),
        ("Authorization: Bearer abc.def-ghi_jkl012", "Authorization: Bearer [secret]"),
        ("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl", "token [jwt]"),
        ("attempt 12 of adi_Xy12 at 2026-03-02", "attempt 12 of adi_Xy12 at 2026-03-02"),
    ],
)
def test_a_line_is_masked(line, masked):
    assert mask(line) == masked


def _record(message: str, *args) -> logging.LogRecord:
    record = logging.LogRecord("delivery.services.sending", logging.INFO, __file__, 1, message, args, None)
    ContextFilter().filter(record)
    return record


def test_a_json_line_names_the_request_the_caller_and_the_attempt():
    with log_context(organization="acme", credential="api_key:private_ab12", attempt_id=7):
        record = _record("sent to %s", "bo@example.com")
    line = json.loads(JsonLineFormatter().format(record))
    assert {key: line[key] for key in ("level", "logger", "message", "organization", "credential", "attempt_id")} == {
        "level": "INFO",
        "logger": "delivery.services.sending",
        "message": "sent to b***@example.com",
        "organization": "acme",
        "credential": "api_key:private_ab12",
        "attempt_id": 7,
    }
    assert line["request_id"] == "-" and line["time"].startswith("20")


def test_the_text_format_is_masked_too():
    formatter = TextFormatter("%(levelname)s [%(request_id)s] %(message)s")
    assert formatter.format(_record("to %s", "+4915112345678")) == "INFO [-] to +4915*******78"


@pytest.mark.django_db(transaction=True)
def test_a_resend_is_counted_once_it_commits_and_never_when_rolled_back(organization):
    resent = RESENDS.labels(outcome="resent")
    before = resent._value.get()
    invitation = InvitationFactory(organization=organization)
    from django.utils import timezone

    invitation.sent_at = timezone.now() - timedelta(minutes=10)
    invitation.save(update_fields=["sent_at"])
    with pytest.raises(RuntimeError), transaction.atomic():
        invitation_resend(invitation=invitation, actor=Actor.system("test"))
        raise RuntimeError("rolled back")
    assert resent._value.get() == before
    invitation_resend(invitation=invitation, actor=Actor.system("test"))
    assert resent._value.get() == before + 1


@pytest.mark.django_db(transaction=True)
def test_a_bulk_resend_counts_each_invitation_once_by_its_outcome(organization):
    from django.utils import timezone

    from invitations.models import Invitation
    from invitations.services import invitation_resend_bulk

    sent_at = timezone.now() - timedelta(minutes=10)
    eligible = [InvitationFactory(organization=organization, sent_at=sent_at) for _ in range(3)]
    pending = InvitationFactory(organization=organization, status=Invitation.Status.PENDING)
    before = {outcome: RESENDS.labels(outcome=outcome)._value.get() for outcome in ("resent", "wrong_status")}
    summary = invitation_resend_bulk(
        invitation_ids=[i.pk for i in [*eligible, pending]], actor=Actor.system("test"), batch_size=2
    )
    assert [r.outcome for r in summary.results] == ["resent", "resent", "resent", "wrong_status"]
    after = {outcome: RESENDS.labels(outcome=outcome)._value.get() for outcome in before}
    assert (after["resent"] - before["resent"], after["wrong_status"] - before["wrong_status"]) == (3, 1)
    invitation_resend_bulk(invitation_ids=[pending.pk], actor=Actor.system("test"), dry_run=True)
    assert RESENDS.labels(outcome="wrong_status")._value.get() == after["wrong_status"]
