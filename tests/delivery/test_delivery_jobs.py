"""The delivery pipeline: after-commit enqueue, atomic claim, a real rq worker."""

from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
import time_machine
from django.core import mail
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from billing.models import BillingEvent, Price
from delivery.jobs import deliver_attempt
from delivery.models import DeliveryAttempt
from delivery.services import delivery_attempt_claim
from invitations.models import Invitation, InvitationEvent
from invitations.services import invitation_resend
from tests.factories import InvitationFactory
from tests.helpers import T0

pytestmark = pytest.mark.django_db


def test_a_resend_is_delivered_by_the_worker_with_a_new_sent_at_and_the_link(
    api, organization, run_worker, django_capture_on_commit_callbacks
):
    invitation = InvitationFactory(organization=organization, sent_at=T0 - timedelta(minutes=5), dossier_token="dos_1")
    with time_machine.travel(T0, tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            assert api.post(f"/v1/autodoc/invitations/{invitation.token}/resend").status_code == 200
        assert run_worker() == 1
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.SENT
    assert invitation.sent_at == T0
    assert invitation.dossier_token == "dos_1"
    assert invitation.delivery_attempts == 2
    assert len(mail.outbox) == 1
    assert invitation.link in mail.outbox[0].body
    assert mail.outbox[0].extra_headers["X-Delivery-Attempt"].startswith("delivery-attempt-")
    reasons = list(InvitationEvent.objects.filter(invitation=invitation).values_list("reason", "actor_kind"))
    assert reasons == [("resend", "api_key"), ("provider_accepted", "system")]


def test_a_claimed_attempt_cannot_be_claimed_again(organization):
    invitation = InvitationFactory(organization=organization, status=Invitation.Status.PENDING, sent_at=None)
    attempt = DeliveryAttempt.objects.create(
        invitation=invitation, number=1, channel="email", recipient=invitation.recipient, livemode=True
    )
    assert delivery_attempt_claim(attempt_id=attempt.pk) is not None
    assert delivery_attempt_claim(attempt_id=attempt.pk) is None


def test_an_error_inside_the_resend_transaction_leaves_no_attempt_and_no_job(
    organization, delivery_queue, django_capture_on_commit_callbacks
):
    """The failure comes last: after the attempt row is written and its enqueue is registered."""
    from accounts.principals import Actor
    from delivery.services import queueing as delivery_services

    real_enqueue = delivery_services.enqueue_on_commit

    def enqueue_then_fail(*args, **kwargs):
        real_enqueue(*args, **kwargs)
        assert DeliveryAttempt.objects.exists()
        raise RuntimeError("disk full")

    invitation = InvitationFactory(organization=organization, sent_at=T0 - timedelta(minutes=5))
    with (
        time_machine.travel(T0, tick=False),
        django_capture_on_commit_callbacks(execute=True),
        mock.patch.object(delivery_services, "enqueue_on_commit", side_effect=enqueue_then_fail),
        pytest.raises(RuntimeError),
    ):
        invitation_resend(invitation=invitation, actor=Actor.system("test"))
    assert delivery_queue.count == 0
    assert not DeliveryAttempt.objects.exists()
    assert not InvitationEvent.objects.filter(reason="resend").exists()
    invitation.refresh_from_db()
    assert (invitation.status, invitation.delivery_attempts) == (Invitation.Status.SENT, 1)


def test_a_rolled_back_outer_transaction_enqueues_nothing(
    organization, delivery_queue, django_capture_on_commit_callbacks
):
    from accounts.principals import Actor

    invitation = InvitationFactory(organization=organization, sent_at=T0 - timedelta(minutes=5))
    with time_machine.travel(T0, tick=False), django_capture_on_commit_callbacks(execute=True):
        try:
            with transaction.atomic():
                invitation_resend(invitation=invitation, actor=Actor.system("test"))
                raise ValueError("caller changed its mind")
        except ValueError:
            pass
    assert delivery_queue.count == 0
    assert not DeliveryAttempt.objects.exists()


@pytest.mark.parametrize("channel, recipient", [("email", "ana@example.com"), ("sms", "+14155550123")])
def test_one_delivery_costs_a_bounded_number_of_sql_statements(organization, channel, recipient):
    """The claim and its join, then one transaction: the attempt, the invitation under its lock, the
    audit row, the webhook event and the endpoints it fans out to, the billing event at its price,
    the provider events held back."""
    Price.objects.create(event_type=f"send.{channel}", amount="0.0300", currency="EUR")
    invitation = InvitationFactory(
        organization=organization, status=Invitation.Status.PENDING, sent_at=None, channel=channel, recipient=recipient
    )
    attempt = DeliveryAttempt.objects.create(
        invitation=invitation, number=1, channel=channel, recipient=recipient, livemode=True
    )
    with CaptureQueriesContext(connection) as queries:
        assert deliver_attempt(attempt.pk) == DeliveryAttempt.Status.ACCEPTED
    statements = [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert len(statements) <= 13, "\n".join(sql[:120] for sql in statements)
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.SENT
    assert BillingEvent.objects.get(source_id=f"attempt:{attempt.pk}").amount == Decimal("0.0300")
