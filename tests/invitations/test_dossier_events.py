"""Dossier events: signed with HMAC-SHA256 of the raw body, inside a replay window, applied once."""

import hashlib
import hmac
import json
from datetime import timedelta

import pytest
import time_machine

from invitations.models import DossierEvent, Invitation, InvitationEvent
from tests.factories import InvitationFactory
from tests.helpers import T0

pytestmark = pytest.mark.django_db

SECRET = "dossier-shared-secret"
URL = "/webhooks/dossier"


@pytest.fixture(autouse=True)
def dossier_secret(settings):
    settings.DOSSIER_WEBHOOK_SECRET = SECRET


def event(invitation, event_type, *, event_id=None, dossier_token="dos_1", created=T0) -> bytes:
    body = {
        "id": event_id or f"evt_{event_type}_{invitation.pk}",
        "type": event_type,
        "createdAt": created.isoformat().replace("+00:00", "Z"),
        "data": {"invitationToken": invitation.token, "dossierToken": dossier_token},
    }
    return json.dumps(body).encode()


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post(client, body: bytes, signature: str | None = None, *, at=T0):
    with time_machine.travel(at, tick=False):
        return client.post(
            URL, data=body, content_type="application/json", HTTP_X_DOSSIER_SIGNATURE=signature or sign(body)
        )


def sent(organization, **kwargs):
    return InvitationFactory(organization=organization, created_at=T0 - timedelta(hours=1), **kwargs)


def reasons(invitation) -> list[str]:
    return list(InvitationEvent.objects.filter(invitation=invitation).values_list("reason", flat=True))


@pytest.mark.parametrize("event_type", ["dossier.created", "dossier.open"])
def test_a_signed_dossier_start_moves_the_invitation_to_started_with_its_dossier(client, organization, event_type):
    invitation = sent(organization, status=Invitation.Status.OPENED)
    response = post(client, event(invitation, event_type))

    assert response.status_code == 200
    assert response.json() == {"received": True, "duplicate": False, "outcome": "applied"}
    invitation.refresh_from_db()
    assert (invitation.status, invitation.dossier_token, invitation.started_at) == (
        Invitation.Status.STARTED,
        "dos_1",
        T0,
    )
    audit = InvitationEvent.objects.get(invitation=invitation)
    assert (audit.from_status, audit.to_status, audit.reason, audit.actor_label) == (
        "opened",
        "started",
        "dossier_started",
        "system:dossier",
    )


@pytest.mark.parametrize(
    "event_type, status",
    [
        ("dossier.completed", Invitation.Status.COMPLETED),
        ("dossier.approved", Invitation.Status.COMPLETED),
        ("dossier.rejected", Invitation.Status.REJECTED),
    ],
)
def test_a_finished_dossier_completes_or_rejects_a_started_invitation(client, organization, event_type, status):
    invitation = sent(
        organization, status=Invitation.Status.STARTED, dossier_token="dos_1", started_at=T0 - timedelta(minutes=5)
    )
    assert post(client, event(invitation, event_type)).status_code == 200
    invitation.refresh_from_db()
    assert invitation.status == status
    assert getattr(invitation, f"{status}_at") == T0


def test_the_same_event_delivered_twice_is_applied_once(client, organization):
    invitation = sent(organization)
    body = event(invitation, "dossier.created")
    first, second = post(client, body), post(client, body, at=T0 + timedelta(seconds=30))
    assert first.json()["duplicate"] is False
    assert second.status_code == 200
    assert second.json()["duplicate"] is True
    assert DossierEvent.objects.count() == 1
    assert reasons(invitation) == ["dossier_started"]


def test_a_forged_signature_is_refused_in_the_envelope_and_changes_nothing(client, organization):
    invitation = sent(organization)
    body = event(invitation, "dossier.completed")
    forged = post(client, body, sign(body, secret="guessed-secret"))
    missing = client.post(URL, data=body, content_type="application/json")
    # A real signature, moved onto a body that was altered.
    tampered = post(client, body.replace(b"dossier.completed", b"dossier.rejected"), sign(body))

    for response in (forged, missing, tampered):
        assert response.status_code == 401
        assert response.json()["error"]["type"] == "authentication_failed"
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.SENT
    assert not DossierEvent.objects.exists()


@pytest.mark.parametrize("age", [timedelta(minutes=-6), timedelta(minutes=6)])
def test_an_event_outside_the_replay_window_is_refused(client, organization, age):
    invitation = sent(organization)
    body = event(invitation, "dossier.created", created=T0 - age)
    response = post(client, body)
    assert response.status_code == 401
    assert "replay window" in response.json()["error"]["message"]
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.SENT


def test_an_event_inside_the_replay_window_is_accepted(client, organization):
    invitation = sent(organization)
    assert post(client, event(invitation, "dossier.created", created=T0 - timedelta(minutes=4))).status_code == 200


def test_events_out_of_order_never_move_the_invitation_backwards(client, organization):
    invitation = sent(organization)
    post(client, event(invitation, "dossier.completed"))
    post(client, event(invitation, "dossier.created", dossier_token="dos_1"))
    post(client, event(invitation, "dossier.rejected"))

    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.COMPLETED
    assert invitation.dossier_token == "dos_1"
    # The completion that skipped ahead still passed through started.
    assert reasons(invitation) == ["dossier_started", "dossier_completed"]
    assert list(DossierEvent.objects.values_list("type", "outcome")) == [
        ("dossier.completed", "applied"),
        ("dossier.created", "ignored"),
        ("dossier.rejected", "ignored"),
    ]


def test_a_dossier_started_while_a_resend_is_pending_keeps_its_link_across_the_later_send(
    client, organization, delivery_queue, run_worker
):
    from delivery.jobs import deliver_attempt
    from delivery.models import DeliveryAttempt

    invitation = sent(organization, status=Invitation.Status.PENDING, sent_at=None, delivery_attempts=2)
    attempt = DeliveryAttempt.objects.create(
        invitation=invitation, number=2, channel="email", recipient=invitation.recipient, livemode=True
    )
    post(client, event(invitation, "dossier.created", dossier_token="dos_first"))
    post(client, event(invitation, "dossier.open", event_id="evt_open_2", dossier_token="dos_other"))
    delivery_queue.enqueue(deliver_attempt, attempt.pk)
    run_worker()

    invitation.refresh_from_db()
    assert (invitation.status, invitation.dossier_token) == (Invitation.Status.STARTED, "dos_first")
    attempt.refresh_from_db()
    assert attempt.status == DeliveryAttempt.Status.CANCELED


def test_a_later_resend_keeps_the_dossier(api, client, organization, django_capture_on_commit_callbacks):
    invitation = sent(organization, sent_at=T0 - timedelta(minutes=10), dossier_token="dos_1")
    with time_machine.travel(T0, tick=False), django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"/v1/autodoc/invitations/{invitation.token}/resend")
    assert response.json()["dossierToken"] == "dos_1"
    post(client, event(invitation, "dossier.open", dossier_token="dos_1"), at=T0 + timedelta(seconds=1))
    invitation.refresh_from_db()
    assert (invitation.status, invitation.dossier_token) == (Invitation.Status.STARTED, "dos_1")


def test_an_unknown_invitation_is_a_404_in_the_envelope(client, db):
    invitation = Invitation(token="adi_doesnotexist00000000000", pk=0)
    response = post(client, event(invitation, "dossier.created"))
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found"


def test_an_unknown_event_type_is_a_422_naming_the_supported_ones(client, organization):
    invitation = sent(organization)
    response = post(client, event(invitation, "dossier.exploded"))
    assert response.status_code == 422
    assert "dossier.created" in response.json()["error"]["fields"]["type"][0]


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[]",
        json.dumps({"id": "e", "type": "dossier.created", "createdAt": "yesterday", "data": {}}).encode(),
        b'{"id": "e", "data": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
        json.dumps(
            {"id": "e\u0000", "type": "dossier.created", "createdAt": "2026-03-02T09:00:00Z", "data": {}}
        ).encode(),
        json.dumps({"id": "e", "type": "dossier.created", "createdAt": "2026-02-30T09:00:00Z", "data": {}}).encode(),
        json.dumps(
            {"id": "e", "type": "dossier.created", "createdAt": "2026-03-02T09:00:00+99:00", "data": {}}
        ).encode(),
        json.dumps({"id": ["e"], "type": 7, "createdAt": {}, "data": {"invitationToken": 1}}).encode(),
        b'{"id": "e", "type": "dossier.created", "createdAt": "\xff"}',
    ],
    ids=[
        "not json",
        "array",
        "bad date",
        "deep",
        "nul",
        "no such day",
        "offset past a day",
        "wrong types",
        "bad utf-8",
    ],
)
def test_a_malformed_event_is_a_400_in_the_envelope(client, db, body):
    response = post(client, body)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request"


def test_without_a_configured_secret_nothing_is_accepted(client, organization, settings):
    settings.DOSSIER_WEBHOOK_SECRET = ""
    invitation = sent(organization)
    response = post(client, event(invitation, "dossier.created"), sign(event(invitation, "dossier.created"), ""))
    assert response.status_code == 503
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.SENT


def test_the_endpoint_needs_no_csrf_token(organization):
    from django.test import Client

    invitation = sent(organization)
    assert post(Client(enforce_csrf_checks=True), event(invitation, "dossier.created")).status_code == 200
