"""API.md's resend table, rule by rule and in its order, through the real endpoint."""

from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from delivery.models import DeliveryAttempt
from invitations.models import Invitation, InvitationEvent
from tests.helpers import T0, resend, sent_invitation

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "status, phrase",
    [
        (Invitation.Status.PENDING, "still in flight"),
        (Invitation.Status.DELIVERED, "already engaged"),
        (Invitation.Status.OPENED, "already engaged"),
        (Invitation.Status.STARTED, "already engaged"),
        (Invitation.Status.COMPLETED, "already engaged"),
        (Invitation.Status.REJECTED, "already engaged"),
        (
            Invitation.Status.FAILED,
            "failed for good (no retry follows): correct the recipient (PATCH the invitation with a new recipient), "
            "or, once the address works again, PATCH it with the same recipient",
        ),
    ],
)
def test_resend_of_a_non_sent_invitation_is_refused_with_its_status_and_why(api, organization, status, phrase):
    invitation = sent_invitation(organization, status=status)
    with time_machine.travel(T0, tick=False):
        response = resend(api, invitation)
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["type"] == "invalid_status"
    assert error["status"] == status
    assert phrase in error["message"]
    invitation.refresh_from_db()
    assert invitation.status == status
    assert invitation.delivery_attempts == 1
    assert not DeliveryAttempt.objects.exists()


def test_resend_of_a_failed_invitation_with_a_retry_ahead_says_when_it_is_tried_again(api, organization):
    invitation = sent_invitation(organization, status=Invitation.Status.FAILED)
    DeliveryAttempt.objects.create(
        invitation=invitation,
        number=1,
        channel="email",
        recipient=invitation.recipient,
        livemode=True,
        status=DeliveryAttempt.Status.RETRYING,
        retry_at=T0 + timedelta(minutes=5),
    )
    with time_machine.travel(T0, tick=False):
        error = resend(api, invitation).json()["error"]
    assert error["type"] == "invalid_status"
    assert "retried automatically (next try at 2026-03-02 09:05:00 UTC)" in error["message"]


def test_resend_of_an_expired_invitation_is_refused(api, organization):
    invitation = sent_invitation(organization, expires_at=T0 - timedelta(seconds=1))
    with time_machine.travel(T0, tick=False):
        response = resend(api, invitation)
    assert response.status_code == 422
    assert response.json()["error"]["type"] == "invitation_expired"


def test_resend_at_the_exact_expiry_instant_is_refused(api, organization):
    invitation = sent_invitation(organization, expires_at=T0)
    with time_machine.travel(T0, tick=False):
        assert resend(api, invitation).json()["error"]["type"] == "invitation_expired"


def test_resend_at_ten_attempts_is_refused_with_max_attempts(api, organization):
    invitation = sent_invitation(organization, delivery_attempts=10)
    with time_machine.travel(T0, tick=False):
        response = resend(api, invitation)
    assert response.status_code == 422
    assert response.json()["error"] == {
        "type": "max_attempts_reached",
        "message": "This invitation has reached the maximum of 10 send attempts. "
        "Create a new invitation to continue contacting the recipient.",
        "max_attempts": 10,
        "requestId": response["Request-Id"],
    }
    assert response["Request-Id"].startswith("req_")


def test_initial_send_and_nine_resends_are_allowed_and_the_tenth_is_refused(api, organization, delivery_queue):
    invitation = sent_invitation(organization)
    now = T0
    for expected_attempts in range(2, 11):
        with time_machine.travel(now, tick=False):
            response = resend(api, invitation)
        assert response.status_code == 200, response.json()
        assert response.json()["deliveryAttempts"] == expected_attempts
        # The provider accepts it: back to sent, three minutes pass.
        Invitation.objects.filter(pk=invitation.pk).update(status=Invitation.Status.SENT, sent_at=now)
        now += timedelta(minutes=3)
    with time_machine.travel(now, tick=False):
        response = resend(api, invitation)
    assert response.status_code == 422
    assert response.json()["error"]["type"] == "max_attempts_reached"
    assert DeliveryAttempt.objects.filter(invitation=invitation).count() == 9


@pytest.mark.parametrize("elapsed, remaining", [(0, 180), (1, 179), (179, 1)])
def test_resend_within_cooldown_is_refused_with_remaining_seconds(api, organization, elapsed, remaining):
    invitation = sent_invitation(organization, sent_at=T0)
    with time_machine.travel(T0 + timedelta(seconds=elapsed), tick=False):
        response = resend(api, invitation)
    assert response.status_code == 429
    error = response.json()["error"]
    assert error["type"] == "cooldown_active"
    assert error["remaining_seconds"] == remaining
    assert error["message"].endswith(f"(remaining_seconds={remaining})")
    assert response["Retry-After"] == str(remaining)


def test_cooldown_remaining_seconds_round_up_fractions(api, organization):
    invitation = sent_invitation(organization, sent_at=T0)
    with time_machine.travel(T0 + timedelta(seconds=179, milliseconds=400), tick=False):
        response = resend(api, invitation)
    assert response.json()["error"]["remaining_seconds"] == 1
    assert response["Retry-After"] == "1"


def test_resend_exactly_180_seconds_after_sent_is_allowed(api, organization):
    invitation = sent_invitation(organization, sent_at=T0)
    with time_machine.travel(T0 + timedelta(seconds=180), tick=False):
        response = resend(api, invitation)
    assert response.status_code == 200


@pytest.mark.parametrize(
    "overrides, expected_type",
    [
        # expired + wrong status + capped + cooldown: expiry wins
        (
            {"expires_at": T0, "status": Invitation.Status.PENDING, "delivery_attempts": 10, "sent_at": T0},
            "invitation_expired",
        ),
        # wrong status + capped + cooldown: status wins
        ({"status": Invitation.Status.DELIVERED, "delivery_attempts": 10, "sent_at": T0}, "invalid_status"),
        # capped + cooldown: cap wins
        ({"delivery_attempts": 10, "sent_at": T0}, "max_attempts_reached"),
    ],
)
def test_rules_are_checked_in_the_contract_order(api, organization, overrides, expected_type):
    invitation = sent_invitation(organization, **overrides)
    with time_machine.travel(T0, tick=False):
        response = resend(api, invitation)
    assert response.json()["error"]["type"] == expected_type


def test_unknown_token_is_checked_before_any_invitation_rule(api, organization):
    with time_machine.travel(T0, tick=False):
        response = api.post("/v1/autodoc/invitations/adi_doesnotexist000000000000/resend")
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found"


def test_missing_credentials_are_checked_before_the_token(client, organization):
    invitation = sent_invitation(organization)
    response = client.post(f"/v1/autodoc/invitations/{invitation.token}/resend")
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_failed"


def test_a_passing_resend_moves_sent_to_pending_and_queues_exactly_one_delivery(
    api, organization, delivery_queue, django_capture_on_commit_callbacks
):
    invitation = sent_invitation(organization, dossier_token="dos_keepme")
    with time_machine.travel(T0, tick=False), django_capture_on_commit_callbacks(execute=True):
        response = resend(api, invitation)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "pending"
    assert body["sentAt"] is None
    assert body["deliveryAttempts"] == 2
    assert body["dossierToken"] == "dos_keepme"
    invitation.refresh_from_db()
    assert (invitation.status, invitation.sent_at, invitation.delivery_attempts) == (Invitation.Status.PENDING, None, 2)
    attempts = list(DeliveryAttempt.objects.filter(invitation=invitation))
    assert [(a.number, a.status) for a in attempts] == [(2, DeliveryAttempt.Status.QUEUED)]
    assert delivery_queue.count == 1
    assert delivery_queue.jobs[0].args == (attempts[0].pk,)
    event = InvitationEvent.objects.get(invitation=invitation, reason="resend")
    assert (event.from_status, event.to_status, event.actor_kind) == ("sent", "pending", "api_key")


def test_the_token_without_its_prefix_is_accepted(api, organization):
    invitation = sent_invitation(organization)
    with time_machine.travel(T0, tick=False):
        response = api.post(f"/v1/autodoc/invitations/{invitation.token.removeprefix('adi_')}/resend")
    assert response.status_code == 200
    assert response.json()["token"] == invitation.token


def test_one_resend_request_runs_a_bounded_number_of_queries(api, organization):
    """Bound: 8 statements, each the ORM's. Key lookup, key last-used touch, the invitation found and
    locked with its workflow and suppression in one, then its move, its audit row, its webhook event,
    the endpoints it fans out to, and its delivery attempt (the savepoints are the test's own
    transaction around the service's). Anything more is an N+1 creeping in."""
    invitation = sent_invitation(organization)
    with time_machine.travel(T0, tick=False), CaptureQueriesContext(connection) as queries:
        response = resend(api, invitation)
    assert response.status_code == 200
    statements = [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert len(statements) <= 8, "\n".join(statements)
    assert sum("FOR UPDATE" in sql for sql in statements) == 1
    assert sum(sql.startswith("SELECT") and "invitations_invitation" in sql for sql in statements) == 1
    writes = [sql.split('"')[1] for sql in statements if sql.startswith(("INSERT", "UPDATE"))]
    tables = ["accounts_apikey", "invitations_invitation", "invitations_invitationevent", "webhooks_event"]
    assert sorted(writes) == sorted([*tables, "delivery_deliveryattempt"])
    invitation.refresh_from_db()
    attempt = DeliveryAttempt.objects.get(invitation=invitation, number=2)
    event = InvitationEvent.objects.get(invitation=invitation, reason="resend")
    assert (invitation.status, invitation.delivery_attempts, invitation.sent_at) == ("pending", 2, None)
    assert (attempt.status, attempt.recipient, attempt.created_at, attempt.updated_at) == (
        DeliveryAttempt.Status.QUEUED,
        invitation.recipient,
        T0,
        T0,
    )
    assert (event.created_at, event.message) == (T0, "Send attempt 2 requested.")


def test_a_column_added_by_a_migration_while_the_process_runs_does_not_break_the_prepared_lock(api, organization):
    """A new column (a rolling deploy's migration, ahead of this process's code) leaves the lock and
    the resend working: the ORM names the columns it reads, and nothing is prepared on the server."""
    invitations = [sent_invitation(organization) for _ in range(8)]
    with time_machine.travel(T0, tick=False):
        for invitation in invitations[:6]:
            assert resend(api, invitation).status_code == 200
        with connection.cursor() as cursor:
            # The test's transaction holds deferred foreign-key checks, which ALTER TABLE may not.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("ALTER TABLE invitations_invitation ADD COLUMN added_meanwhile integer")
        for invitation in invitations[6:]:
            response = resend(api, invitation)
            assert response.status_code == 200, response.json()
            assert response.json()["deliveryAttempts"] == 2
