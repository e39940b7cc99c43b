"""Every send the provider accepts in live mode is billed once, at the channel's price."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core import mail
from django.db import connection

from accounts.models import SandboxRecipient
from accounts.principals import Actor
from billing.models import BillingEvent, Price
from billing.selectors import price_for
from billing.services import billing_event_record_send
from delivery import sms
from delivery.jobs import deliver_attempt
from delivery.models import DeliveryAttempt
from invitations.models import Invitation
from invitations.services import invitation_create
from tests.factories import OrganizationFactory
from tests.helpers import T0, resend
from tests.helpers import created as create


@pytest.fixture
def prices(db):
    return {
        "send.email": Price.objects.create(event_type="send.email", amount=Decimal("0.0125"), currency="EUR"),
        "send.sms": Price.objects.create(event_type="send.sms", amount=Decimal("0.0700"), currency="EUR"),
    }


class FlakySmsBackend(sms.BaseSmsBackend):
    """Stands in for an SMS provider that times out once, then accepts."""

    calls = 0

    def send(self, message):
        type(self).calls += 1
        if type(self).calls == 1:
            raise sms.TransientSmsError("provider timed out")
        return sms.LocmemSmsBackend().send(message)


@pytest.mark.django_db
def test_a_live_invitation_sent_and_resent_twice_is_billed_three_send_email_events_at_the_price(
    api, organization, prices, run_worker, django_capture_on_commit_callbacks
):
    with time_machine.travel(T0, tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            invitation = create(api)
        run_worker()
    for minutes in (3, 6):
        with time_machine.travel(T0 + timedelta(minutes=minutes), tick=False):
            with django_capture_on_commit_callbacks(execute=True):
                assert resend(api, invitation).status_code == 200
            run_worker()
    invitation.refresh_from_db()
    assert (invitation.status, invitation.delivery_attempts) == (Invitation.Status.SENT, 3)
    assert len(mail.outbox) == 3
    events = list(BillingEvent.objects.filter(organization=organization).order_by("created_at"))
    assert [(e.event_type, e.amount, e.currency, e.reference) for e in events] == [
        ("send.email", Decimal("0.0125"), "EUR", invitation.token)
    ] * 3
    attempts = DeliveryAttempt.objects.filter(invitation=invitation).order_by("number")
    assert [e.source_id for e in events] == [f"attempt:{a.pk}" for a in attempts]
    assert [e.created_at for e in events] == [T0, T0 + timedelta(minutes=3), T0 + timedelta(minutes=6)]


@pytest.mark.django_db
def test_an_sms_invitation_is_billed_one_send_sms_event(
    api, organization, prices, run_worker, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        create(api, channel="sms", recipient="+14155550123")
    run_worker()
    assert len(sms.outbox) == 1
    assert list(BillingEvent.objects.values_list("event_type", "amount")) == [("send.sms", Decimal("0.0700"))]


@pytest.mark.django_db
def test_a_sandbox_invitation_is_sent_but_never_billed(
    sandbox_api, organization, prices, run_worker, django_capture_on_commit_callbacks
):
    # On the sandbox allow-list, so the messages really go out (off it they would be simulated).
    for recipient in ("ana@example.com", "+14155550123"):
        SandboxRecipient.objects.create(organization=organization, recipient=recipient)
    with django_capture_on_commit_callbacks(execute=True):
        invitation = create(sandbox_api)
        create(sandbox_api, channel="sms", recipient="+14155550123")
    run_worker()
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.SENT
    assert (len(mail.outbox), len(sms.outbox)) == (1, 1)
    assert not BillingEvent.objects.exists()


@pytest.mark.django_db
def test_a_delivery_that_fails_then_succeeds_on_retry_is_billed_once(
    api, organization, prices, run_worker, settings, django_capture_on_commit_callbacks
):
    settings.SMS_BACKEND = f"{__name__}.FlakySmsBackend"
    settings.DELIVERY_RETRY_INTERVALS = [0, 0]
    FlakySmsBackend.calls = 0
    with django_capture_on_commit_callbacks(execute=True):
        invitation = create(api, channel="sms", recipient="+14155550123")
    run_worker()
    assert FlakySmsBackend.calls == 2
    attempt = DeliveryAttempt.objects.get(invitation=invitation)
    assert (attempt.status, attempt.tries) == (DeliveryAttempt.Status.ACCEPTED, 2)
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.SENT
    assert list(invitation.events.values_list("to_status", flat=True)) == ["pending", "failed", "sent"]
    assert list(BillingEvent.objects.values_list("event_type", "source_id")) == [("send.sms", f"attempt:{attempt.pk}")]


@pytest.mark.django_db
def test_a_duplicate_job_for_an_accepted_attempt_bills_nothing_more(
    api, prices, delivery_queue, run_worker, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        invitation = create(api)
    attempt = DeliveryAttempt.objects.get(invitation=invitation)
    duplicate = delivery_queue.enqueue(deliver_attempt, attempt.pk)
    run_worker()
    duplicate.refresh()
    assert duplicate.return_value() == "skipped"
    assert len(mail.outbox) == 1
    assert BillingEvent.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_jobs_racing_for_one_attempt_send_and_bill_once(organization, prices):
    invitation = invitation_create(
        organization=organization,
        livemode=True,
        channel="sms",
        recipient="+14155550123",
        actor=Actor.system("test"),
    )
    attempt = DeliveryAttempt.objects.get(invitation=invitation)
    barrier = threading.Barrier(2)
    results = []

    def job():
        try:
            barrier.wait(timeout=10)
            results.append(deliver_attempt(attempt.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=job) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == ["accepted", "skipped"]
    assert len(sms.outbox) == 1
    assert BillingEvent.objects.filter(source_id=f"attempt:{attempt.pk}").count() == 1


@pytest.mark.django_db(transaction=True)
def test_recording_the_same_send_twice_at_once_leaves_one_event(organization, prices):
    barrier = threading.Barrier(2)
    results = []

    def record():
        try:
            barrier.wait(timeout=10)
            event = billing_event_record_send(
                organization=organization, channel="email", livemode=True, source_id="attempt:424242"
            )
            results.append(event.pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=record) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == 2 and results[0] == results[1]
    assert BillingEvent.objects.count() == 1


# --- Prices ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_organizations_own_price_overrides_the_default_for_that_organization_only(
    api, organization, prices, run_worker, django_capture_on_commit_callbacks
):
    Price.objects.create(organization=organization, event_type="send.email", amount=Decimal("0.0080"), currency="USD")
    other = OrganizationFactory()
    assert price_for(organization=organization, event_type="send.email") == (Decimal("0.0080"), "USD")
    assert price_for(organization=other, event_type="send.email") == (Decimal("0.0125"), "EUR")
    # The override is per event type: SMS keeps the default price.
    assert price_for(organization=organization, event_type="send.sms") == (Decimal("0.0700"), "EUR")
    with django_capture_on_commit_callbacks(execute=True):
        create(api)
    run_worker()
    assert list(BillingEvent.objects.values_list("amount", "currency")) == [(Decimal("0.0080"), "USD")]


@pytest.mark.django_db
def test_without_price_rows_the_settings_prices_apply(organization, settings):
    settings.BILLING_DEFAULT_PRICES = {"send.email": ("0.0200", "GBP"), "send.sms": ("0.0900", "GBP")}
    assert price_for(organization=organization, event_type="send.email") == (Decimal("0.0200"), "GBP")
    assert price_for(organization=organization, event_type="send.sms") == (Decimal("0.0900"), "GBP")


@pytest.mark.django_db
def test_an_event_keeps_the_price_it_was_billed_at_when_the_price_changes_later(organization, prices):
    first = billing_event_record_send(organization=organization, channel="email", livemode=True, source_id="attempt:1")
    Price.objects.filter(pk=prices["send.email"].pk).update(amount=Decimal("0.0500"))
    second = billing_event_record_send(organization=organization, channel="email", livemode=True, source_id="attempt:2")
    first.refresh_from_db()
    assert (first.amount, second.amount) == (Decimal("0.0125"), Decimal("0.0500"))


@pytest.mark.django_db
def test_a_batch_of_sends_is_billed_at_each_organizations_price_once_and_never_in_sandbox(
    organization, other_organization
):
    from billing.services import SendToBill, billing_events_record_sends

    Price.objects.create(organization=organization, event_type="send.email", amount=Decimal("0.0080"), currency="USD")
    sends = [
        SendToBill(organization=organization, channel="email", livemode=True, source_id="attempt:1"),
        SendToBill(organization=organization, channel="sms", livemode=True, source_id="attempt:2"),
        SendToBill(organization=other_organization, channel="email", livemode=True, source_id="attempt:3"),
        SendToBill(organization=organization, channel="email", livemode=False, source_id="attempt:4"),
    ]
    billing_events_record_sends(sends=sends)
    billing_events_record_sends(sends=sends[:1])  # a repeated source bills nothing new
    billed = {e.source_id: (e.event_type, e.amount, e.currency) for e in BillingEvent.objects.all()}
    assert billed == {
        "attempt:1": ("send.email", Decimal("0.0080"), "USD"),
        "attempt:2": ("send.sms", Decimal("0.0500"), "EUR"),
        "attempt:3": ("send.email", Decimal("0.0100"), "EUR"),
    }
