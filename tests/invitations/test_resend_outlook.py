"""Every representation carries `resend`: what POST .../resend would answer now (credentials and
throttles aside), computed by the function the resend runs. Each case below is checked both ways:
the block GET shows, then the resend itself, whose answer it must name."""

from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.db import transaction

from invitations.models import Invitation
from suppressions.models import Suppression
from tests.factories import InvitationFactory
from tests.helpers import CREATE_URL, T0, resend, sent_invitation

pytestmark = pytest.mark.django_db(transaction=True)

COOLDOWN = timedelta(seconds=180)


def shown(api, invitation: Invitation) -> dict:
    response = api.get(f"{CREATE_URL}/{invitation.token}")
    assert response.status_code == 200
    return response.json()["resend"]


def agrees(api, invitation: Invitation) -> dict:
    """The block GET shows, asserted to say what the resend then answers; the block."""
    block = shown(api, invitation)
    listed = {row["token"]: row["resend"] for row in api.get(CREATE_URL, {"per_page": 100}).json()["data"]}
    assert listed[invitation.token] == block  # the list says the same
    with transaction.atomic():
        answer = resend(api, invitation)
        transaction.set_rollback(True)  # asked, never done: the next case starts from the same row
    if block["allowed"]:
        assert answer.status_code == 200, answer.json()
    else:
        assert answer.json()["error"]["type"] == block["refusal"], (block, answer.json())
    return block


def suppress(invitation: Invitation) -> Suppression:
    return Suppression.objects.create(
        organization=invitation.organization,
        livemode=invitation.livemode,
        channel=invitation.channel,
        recipient=invitation.recipient,
        reason=Suppression.Reason.HARD_BOUNCE,
        created_at=T0 - timedelta(hours=2),
    )


def test_sent_within_the_cooldown_names_when_it_becomes_possible(api, organization):
    invitation = sent_invitation(organization, sent_at=T0 - timedelta(seconds=60), delivery_attempts=3)
    with time_machine.travel(T0, tick=False):
        block = agrees(api, invitation)
    assert block == {
        "allowed": False,
        "refusal": "cooldown_active",
        "availableAt": (T0 + timedelta(seconds=120)).isoformat().replace("+00:00", "Z"),
        "sendsLeft": 7,
    }
    with time_machine.travel(T0 + timedelta(seconds=120), tick=False):
        assert agrees(api, invitation) == {"allowed": True, "refusal": None, "availableAt": None, "sendsLeft": 7}


def test_a_suppressed_recipient_is_no_cooldown_away_from_a_resend(api, organization):
    invitation = sent_invitation(organization, sent_at=T0 - timedelta(seconds=60))
    suppress(invitation)
    with time_machine.travel(T0, tick=False):
        # The cooldown answers first, but it is not all that stands in the way: no availableAt.
        assert agrees(api, invitation) == {
            "allowed": False,
            "refusal": "cooldown_active",
            "availableAt": None,
            "sendsLeft": 9,
        }
    with time_machine.travel(T0 + COOLDOWN, tick=False):
        assert agrees(api, invitation)["refusal"] == "recipient_suppressed"


@pytest.mark.parametrize(
    "status", [s for s in Invitation.Status.values if s != Invitation.Status.SENT], ids=lambda status: status
)
def test_every_other_status_is_refused_as_the_resend_refuses_it(api, organization, status):
    invitation = sent_invitation(organization, status=status)
    with time_machine.travel(T0, tick=False):
        block = agrees(api, invitation)
    assert (block["allowed"], block["refusal"], block["availableAt"]) == (False, "invalid_status", None)


def test_expiry_comes_first_and_the_cap_before_the_cooldown(api, organization):
    expired = sent_invitation(organization, expires_at=T0 - timedelta(seconds=1), sent_at=T0 - timedelta(seconds=5))
    capped = sent_invitation(
        organization,
        delivery_attempts=settings.INVITATION_MAX_DELIVERY_ATTEMPTS,
        sent_at=T0 - timedelta(seconds=5),
        recipient="capped@example.com",
    )
    with time_machine.travel(T0, tick=False):
        assert agrees(api, expired)["refusal"] == "invitation_expired"
        assert agrees(api, capped) == {
            "allowed": False,
            "refusal": "max_attempts_reached",
            "availableAt": None,
            "sendsLeft": 0,
        }


def test_the_block_is_in_webhook_payloads_and_fresh_after_a_resend(api, organization):
    invitation = sent_invitation(organization)
    with time_machine.travel(T0, tick=False):
        answer = resend(api, invitation)
    assert answer.status_code == 200
    assert answer.json()["resend"] == {
        "allowed": False,
        "refusal": "invalid_status",
        "availableAt": None,
        "sendsLeft": 8,
    }
    from webhooks.models import Event

    event = Event.objects.get(type="invitation.resent")
    assert event.data["invitation"]["resend"]["refusal"] == "invalid_status"


def test_another_tenants_suppression_of_the_same_address_changes_nothing(api, organization, other_organization):
    invitation = sent_invitation(organization)
    suppress(InvitationFactory(organization=other_organization, recipient=invitation.recipient))
    with time_machine.travel(T0, tick=False):
        assert agrees(api, invitation)["allowed"] is True
