"""Sandbox never costs or spams: a sandbox send reaches the real provider only for an address on the
organization's allow-list; every other is simulated by the built-in test provider. And a sandbox key
has throttle buckets and a delivery queue of its own, so it cannot use up live capacity."""

from datetime import timedelta

import django_rq
import pytest
import time_machine
from django.core import mail
from django.core.cache import cache

from accounts.models import SandboxRecipient
from billing.models import BillingEvent
from delivery import sms
from delivery.models import DeliveryAttempt
from invitations.models import Invitation
from tests.delivery.conftest import POSTMARK_URL, TWILIO_MESSAGES_URL, postmark_accepted, twilio_message
from tests.factories import InvitationFactory
from tests.helpers import T0

pytestmark = pytest.mark.django_db


def create(client, captured, **body) -> Invitation:
    with captured(execute=True):
        response = client.post("/v1/autodoc/invitations", body, format="json")
    assert response.status_code == 201, response.json()
    return Invitation.objects.get(token=response.json()["token"])


def test_a_sandbox_email_off_the_allow_list_is_simulated_and_reaches_no_provider(
    sandbox_api, postmark, run_worker, django_capture_on_commit_callbacks
):
    invitation = create(
        sandbox_api, django_capture_on_commit_callbacks, channel="email", recipient="stranger@example.com"
    )
    run_worker()
    attempt = invitation.delivery_attempts_set.get()
    assert attempt.status == DeliveryAttempt.Status.SIMULATED
    assert attempt.provider_message_id == f"simulated-{attempt.pk}"
    assert len(postmark.calls) == 0
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.SENT  # the sandbox flow still moves as a live one would
    assert not BillingEvent.objects.exists()


def test_a_sandbox_sms_off_the_allow_list_is_simulated_and_reaches_no_provider(
    sandbox_api, twilio, run_worker, django_capture_on_commit_callbacks
):
    invitation = create(sandbox_api, django_capture_on_commit_callbacks, channel="sms", recipient="+14155550123")
    run_worker()
    assert invitation.delivery_attempts_set.get().status == DeliveryAttempt.Status.SIMULATED
    assert len(twilio.calls) == 0


def test_a_sandbox_email_to_an_allow_listed_address_goes_out_and_is_not_billed(
    sandbox_api, organization, postmark, run_worker, django_capture_on_commit_callbacks
):
    SandboxRecipient.objects.create(organization=organization, recipient="qa@example.com")
    postmark.add("POST", POSTMARK_URL, json=postmark_accepted("pm-1", "QA@example.com"))
    # Matched case-insensitively, as the address was written.
    create(sandbox_api, django_capture_on_commit_callbacks, channel="email", recipient="QA@Example.com")
    run_worker()
    assert list(DeliveryAttempt.objects.values_list("status", "provider_message_id")) == [
        (DeliveryAttempt.Status.ACCEPTED, "pm-1")
    ]
    assert len(postmark.calls) == 1
    assert not BillingEvent.objects.exists()


def test_a_sandbox_sms_to_an_allow_listed_number_goes_out_and_is_not_billed(
    sandbox_api, organization, twilio, run_worker, django_capture_on_commit_callbacks
):
    SandboxRecipient.objects.create(organization=organization, recipient="+14155550123")
    twilio.add("POST", TWILIO_MESSAGES_URL, status=201, json=twilio_message("SM1", to="+14155550123"))
    create(sandbox_api, django_capture_on_commit_callbacks, channel="sms", recipient="+1 415 555 0123")
    run_worker()
    assert list(DeliveryAttempt.objects.values_list("status", "provider_message_id")) == [
        (DeliveryAttempt.Status.ACCEPTED, "SM1")
    ]
    assert len(twilio.calls) == 1
    assert not BillingEvent.objects.exists()


def test_another_organizations_allow_list_does_not_count(
    sandbox_api, other_organization, run_worker, django_capture_on_commit_callbacks
):
    SandboxRecipient.objects.create(organization=other_organization, recipient="ana@example.com")
    invitation = create(sandbox_api, django_capture_on_commit_callbacks, channel="email", recipient="ana@example.com")
    run_worker()
    assert invitation.delivery_attempts_set.get().status == DeliveryAttempt.Status.SIMULATED
    assert mail.outbox == []


def test_live_sends_ignore_the_allow_list(api, run_worker, django_capture_on_commit_callbacks):
    create(api, django_capture_on_commit_callbacks, channel="email", recipient="ana@example.com")
    create(api, django_capture_on_commit_callbacks, channel="sms", recipient="+14155550123")
    run_worker()
    assert set(DeliveryAttempt.objects.values_list("status", flat=True)) == {DeliveryAttempt.Status.ACCEPTED}
    assert (len(mail.outbox), len(sms.outbox)) == (1, 1)


def test_simulated_attempts_show_in_the_admin(
    client, admin_user, sandbox_api, run_worker, django_capture_on_commit_callbacks
):
    invitation = create(sandbox_api, django_capture_on_commit_callbacks, channel="email", recipient="x@example.com")
    run_worker()
    client.force_login(admin_user)
    listing = client.get("/admin/delivery/deliveryattempt/?status__exact=simulated")
    assert invitation.token in listing.content.decode()


def test_the_allow_list_is_edited_on_the_organizations_admin_page_and_stored_normalized(
    client, admin_user, organization
):
    client.force_login(admin_user)
    url = f"/admin/accounts/organization/{organization.pk}/change/"
    form = {
        "slug": organization.slug,
        "name": organization.name,
        "reminder_max": "0",
        "reminder_after_hours": "48",
        "reminder_every_hours": "72",
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
        "sandbox_recipients-TOTAL_FORMS": "2",
        "sandbox_recipients-INITIAL_FORMS": "0",
        "sandbox_recipients-0-recipient": " QA@Example.COM ",
        "sandbox_recipients-1-recipient": "+49 151 12345678",
    }
    response = client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert sorted(organization.sandbox_recipients.values_list("recipient", flat=True)) == [
        "+4915112345678",
        "QA@example.com",
    ]
    form["sandbox_recipients-0-recipient"] = '"quoted"@example.com'
    form["sandbox_recipients-1-recipient"] = "not a number"
    refused = client.post(url, form)
    assert refused.status_code == 200
    assert "Enter a valid email address." in refused.content.decode()


def test_a_sandbox_key_has_throttle_buckets_of_its_own(api, sandbox_api, organization, settings):
    settings.RESEND_RATE_PER_ORG = "2/m"
    cache.clear()
    with time_machine.travel(T0, tick=False):
        live = [InvitationFactory(organization=organization) for _ in range(2)]
        sandbox = [InvitationFactory(organization=organization, livemode=False) for _ in range(3)]
        answers = [sandbox_api.post(f"/v1/autodoc/invitations/{i.token}/resend").status_code for i in sandbox]
        assert answers[-1] == 429
        # The sandbox bucket is full; the live one is untouched.
        answers = [api.post(f"/v1/autodoc/invitations/{i.token}/resend") for i in live]
        assert [a.status_code for a in answers] == [200, 200], answers[0].json()


def test_live_sends_never_wait_behind_sandbox_batches_however_many(
    organization, settings, run_worker, django_capture_on_commit_callbacks
):
    """Sandbox sends wait in a queue of their own, and the delivery workers take a live job first:
    a sandbox key's backlog, enqueued before, leaves a later live bulk resend's sends first in line."""
    from invitations.services import invitation_resend_bulk
    from tests.conftest import TEST_ACTOR

    settings.DELIVERY_BATCH_SIZE = 5
    sent_before = dict(created_at=T0 - timedelta(hours=1), sent_at=T0 - timedelta(minutes=10))
    sandbox = [
        InvitationFactory(organization=organization, livemode=False, recipient=f"s{n}@example.com", **sent_before)
        for n in range(20)
    ]
    live = [
        InvitationFactory(organization=organization, recipient=f"l{n}@example.com", **sent_before) for n in range(10)
    ]
    with time_machine.travel(T0, tick=True):
        with django_capture_on_commit_callbacks(execute=True):
            invitation_resend_bulk(invitation_ids=[i.pk for i in sandbox], actor=TEST_ACTOR)
        with django_capture_on_commit_callbacks(execute=True):
            invitation_resend_bulk(invitation_ids=[i.pk for i in live], actor=TEST_ACTOR)
        assert django_rq.get_queue("delivery").count == 2
        assert django_rq.get_queue("delivery-sandbox").count == 4
        with django_capture_on_commit_callbacks(execute=True):
            assert run_worker() == 6
    attempts = DeliveryAttempt.objects.filter(number=2)
    live_done = max(attempts.filter(livemode=True).values_list("accepted_at", flat=True))
    sandbox_started = min(attempts.filter(livemode=False).values_list("claimed_at", flat=True))
    assert live_done < sandbox_started
    assert set(attempts.values_list("status", flat=True)) == {
        DeliveryAttempt.Status.ACCEPTED,
        DeliveryAttempt.Status.SIMULATED,
    }
