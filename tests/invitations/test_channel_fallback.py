"""Channel fallback: an invitation that fails for good moves, in the same transaction, to the other
channel it names: same token and link, one more attempt, history reason channel_fallback by
system/fallback, told as invitation.corrected, sent and billed on that channel. Through the real
Postmark and Twilio clients to fakes on 127.0.0.1 and a real rq worker."""

from datetime import timedelta

import pytest
import time_machine

from billing.models import BillingEvent
from delivery.models import DeliveryAttempt
from invitations.models import Invitation, InvitationEvent
from suppressions.models import Suppression
from tests.conftest import postmark_record, postmark_webhook
from tests.helpers import CREATE_URL, T0
from webhooks.models import Event

pytestmark = pytest.mark.django_db

EMAIL, PHONE = "ana@example.com", "+4915112345678"
FALLBACK = {"channel": "sms", "recipient": PHONE}


def created(api, captured, **body):
    with captured(execute=True):
        answer = api.post(CREATE_URL, {"channel": "email", "recipient": EMAIL, **body}, format="json")
    assert answer.status_code == 201, answer.json()
    return Invitation.objects.get(token=answer.json()["token"])


def assert_fell_back(invitation: Invitation, link: str) -> None:
    invitation.refresh_from_db()
    assert (invitation.status, invitation.channel, invitation.recipient) == (Invitation.Status.SENT, "sms", PHONE)
    assert (invitation.fallback_channel, invitation.delivery_attempts, invitation.link) == ("", 2, link)
    row = InvitationEvent.objects.get(invitation=invitation, reason="channel_fallback")
    assert (row.from_status, row.to_status, row.actor_kind, row.actor_label) == (
        "failed",
        "pending",
        "system",
        "fallback",
    )
    corrected = Event.objects.get(type="invitation.corrected")
    assert corrected.data["previousRecipient"] == EMAIL and corrected.data["reason"] == "channel_fallback"
    attempts = list(invitation.delivery_attempts_set.order_by("number").values_list("channel", "status"))
    assert attempts == [("email", DeliveryAttempt.Status.FAILED), ("sms", DeliveryAttempt.Status.ACCEPTED)]


def test_a_recipient_the_email_provider_refuses_falls_back_to_sms_billed_as_sms(
    api, fake_postmark, fake_twilio, run_worker, django_capture_on_commit_callbacks
):
    fake_postmark.inactive.add(EMAIL)
    with time_machine.travel(T0, tick=True):
        invitation = created(api, django_capture_on_commit_callbacks, fallback=FALLBACK)
        assert api.get(f"{CREATE_URL}/{invitation.token}").json()["fallback"] == FALLBACK
        link = invitation.link
        with django_capture_on_commit_callbacks(execute=True):
            run_worker()
        with django_capture_on_commit_callbacks(execute=True):
            run_worker()
    assert_fell_back(invitation, link)
    assert [m["To"] for m in fake_twilio.messages] == [PHONE]
    assert list(BillingEvent.objects.values_list("event_type", flat=True)) == ["send.sms"]
    assert Event.objects.filter(type="invitation.failed").count() == 1


def test_a_hard_bounce_after_acceptance_falls_back(
    api, client, fake_postmark, fake_twilio, run_worker, django_capture_on_commit_callbacks
):
    with time_machine.travel(T0, tick=True):
        invitation = created(api, django_capture_on_commit_callbacks, fallback=FALLBACK)
        link = invitation.link
        run_worker()
        first = invitation.delivery_attempts_set.select_related("invitation").get()
        bounce = postmark_record("Bounce", first, Type="HardBounce", TypeCode=1, Description="unknown user")
        with django_capture_on_commit_callbacks(execute=True):
            assert postmark_webhook(client, bounce).status_code == 200
        with django_capture_on_commit_callbacks(execute=True):
            run_worker()
    assert_fell_back(invitation, link)
    assert sorted(BillingEvent.objects.values_list("event_type", flat=True)) == ["send.email", "send.sms"]


def test_a_transient_failure_never_falls_back(
    api, fake_postmark, fake_twilio, run_worker, django_capture_on_commit_callbacks
):
    fake_postmark.fail_once.add(EMAIL)
    with time_machine.travel(T0, tick=False):
        invitation = created(api, django_capture_on_commit_callbacks, fallback=FALLBACK)
        with django_capture_on_commit_callbacks(execute=True):
            run_worker()
    invitation.refresh_from_db()
    assert (invitation.status, invitation.channel, invitation.fallback_channel) == (
        Invitation.Status.FAILED,
        "email",
        "sms",
    )
    assert not fake_twilio.messages


def test_a_suppressed_fallback_is_not_contacted_and_the_error_says_why_for_both(
    api, organization, fake_postmark, fake_twilio, run_worker, django_capture_on_commit_callbacks
):
    Suppression.objects.create(
        organization=organization,
        livemode=True,
        channel="sms",
        recipient=PHONE,
        reason=Suppression.Reason.UNSUBSCRIBED,
        created_at=T0 - timedelta(days=1),
    )
    fake_postmark.inactive.add(EMAIL)
    with time_machine.travel(T0, tick=True):
        invitation = created(api, django_capture_on_commit_callbacks, fallback=FALLBACK)
        with django_capture_on_commit_callbacks(execute=True):
            run_worker()
    invitation.refresh_from_db()
    assert (invitation.status, invitation.channel, invitation.delivery_attempts) == (
        Invitation.Status.FAILED,
        "email",
        1,
    )
    assert "marked as inactive" in invitation.error_message
    assert f"The fallback sms to {PHONE} was not contacted: it is suppressed" in invitation.error_message
    assert not fake_twilio.messages


@pytest.mark.parametrize(
    "fallback, field_error",
    [
        ({"channel": "email", "recipient": "x@example.com"}, "other one than email"),
        ({"channel": "sms", "recipient": "12"}, ""),
        ({"channel": "fax", "recipient": PHONE}, "other one than email"),
    ],
)
def test_a_fallback_on_the_same_channel_or_invalid_for_its_own_is_refused(api, fallback, field_error):
    answer = api.post(CREATE_URL, {"channel": "email", "recipient": EMAIL, "fallback": fallback}, format="json")
    assert (answer.status_code, answer.json()["error"]["type"]) == (422, "validation_error")
    assert field_error in " ".join(answer.json()["error"]["fields"]["fallback"])
    assert not Invitation.objects.exists()


def test_patch_sets_and_removes_it(api, organization):
    from tests.helpers import sent_invitation

    invitation = sent_invitation(organization, channel="email", recipient=EMAIL)
    set_ = api.patch(f"{CREATE_URL}/{invitation.token}", {"fallback": FALLBACK}, format="json").json()
    assert set_["fallback"] == FALLBACK
    removed = api.patch(f"{CREATE_URL}/{invitation.token}", {"fallback": None}, format="json").json()
    assert removed["fallback"] is None
