"""expiryWarning: one message that long before expiresAt, in the invitation's language, sent like a
reminder (actor system/expiry_warning, only while sent or delivered, under the cap, never to a
suppressed recipient, billed, invitation.resent), once; a new expiry re-arms it."""

from datetime import timedelta

import pytest
import time_machine
from django.core import mail

from billing.models import BillingEvent
from delivery.models import DeliveryAttempt
from invitations.jobs import send_due_reminders
from invitations.models import Invitation, InvitationEvent
from tests.helpers import CREATE_URL, T0, create, sent_invitation
from webhooks.models import Event

pytestmark = pytest.mark.django_db


def test_create_takes_it_or_the_organizations_default_or_none(api, organization):
    with time_machine.travel(T0, tick=False):
        asked = create(api, expiryWarning={"beforeHours": 24}).json()
        organization.expiry_warning_before_hours = 12
        organization.save()
        default = create(api).json()
        none = create(api, expiryWarning=None).json()
        assert create(api, expiryWarning={"beforeHours": 0.5}).status_code == 422
        assert create(api, expiryWarning={"beforeHours": "24"}).status_code == 400
    assert asked["expiryWarning"] == {"beforeHours": 24.0, "sentAt": None}
    assert default["expiryWarning"] == {"beforeHours": 12.0, "sentAt": None}
    assert none["expiryWarning"] is None
    due = dict(Invitation.objects.values_list("token", "expiry_warning_due_at"))
    assert due[asked["token"]] == T0 + timedelta(days=30) - timedelta(hours=24)
    assert due[none["token"]] is None


def test_it_goes_once_in_the_invitations_language_as_a_billed_resend(
    organization, run_worker, django_capture_on_commit_callbacks
):
    invitation = sent_invitation(
        organization,
        locale="de",
        expires_at=T0 + timedelta(days=2),
        expiry_warning_before_hours=24,
        expiry_warning_due_at=T0 + timedelta(days=1),
    )
    with time_machine.travel(T0 + timedelta(hours=23), tick=False):
        assert send_due_reminders()["expiry_warnings"] == 0  # not yet
    with time_machine.travel(T0 + timedelta(days=1), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            assert send_due_reminders()["expiry_warnings"] == 1
        with django_capture_on_commit_callbacks(execute=True):
            run_worker()
        assert send_due_reminders()["expiry_warnings"] == 0  # once
    invitation.refresh_from_db()
    assert (invitation.status, invitation.delivery_attempts) == (Invitation.Status.SENT, 2)
    assert invitation.expiry_warning_sent_at == T0 + timedelta(days=1)
    [attempt] = DeliveryAttempt.objects.all()
    assert (attempt.requested_by_kind, attempt.requested_by_label) == ("system", "expiry_warning")
    [message] = mail.outbox
    assert "läuft bald ab" in message.subject
    assert "läuft am 4. März 2026 ab" in message.body
    row = InvitationEvent.objects.get(invitation=invitation, reason="expiry_warning")
    assert (row.from_status, row.to_status) == ("sent", "pending")
    resent = Event.objects.get(type="invitation.resent")
    assert resent.data["requestedBy"] == {"kind": "system", "label": "expiry_warning"}
    assert BillingEvent.objects.count() == 1


def test_an_opened_invitation_gets_no_warning(organization):
    invitation = sent_invitation(
        organization,
        status=Invitation.Status.OPENED,
        expires_at=T0 + timedelta(days=2),
        expiry_warning_before_hours=24,
        expiry_warning_due_at=T0 + timedelta(days=1),
    )
    with time_machine.travel(T0 + timedelta(days=1), tick=False):
        assert send_due_reminders()["expiry_warnings"] == 0
    invitation.refresh_from_db()
    assert (invitation.expiry_warning_due_at, invitation.expiry_warning_sent_at) == (None, None)
    assert not DeliveryAttempt.objects.exists()


def test_a_new_expiry_re_arms_a_warning_already_sent(api, organization):
    invitation = sent_invitation(
        organization,
        expires_at=T0 + timedelta(days=2),
        expiry_warning_before_hours=24,
        expiry_warning_sent_at=T0 - timedelta(hours=1),
    )
    later = T0 + timedelta(days=10)
    with time_machine.travel(T0, tick=False):
        answer = api.patch(f"{CREATE_URL}/{invitation.token}", {"expiresAt": later.isoformat()}, format="json").json()
        assert answer["expiryWarning"] == {"beforeHours": 24.0, "sentAt": None}
        removed = api.patch(f"{CREATE_URL}/{invitation.token}", {"expiryWarning": None}, format="json").json()
    assert removed["expiryWarning"] is None
    invitation.refresh_from_db()
    assert invitation.expiry_warning_due_at is None
