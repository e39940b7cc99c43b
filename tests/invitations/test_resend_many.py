"""The batch resend service: the single resend's rules, audit rows and deliveries, for many rows at once."""

import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connections, transaction

from accounts.principals import Actor
from billing.models import BillingEvent
from delivery.models import DeliveryAttempt
from invitations.models import Invitation, InvitationEvent
from invitations.services import invitation_resend, invitation_resend_many
from tests.factories import InvitationFactory
from tests.helpers import T0

ACTOR = Actor.system("test")

KINDS = {
    "eligible": {},
    "cooldown": {"sent_at": T0 - timedelta(seconds=100)},
    "capped": {"delivery_attempts": 10},
    "expired": {"expires_at": T0},
    "pending": {"status": Invitation.Status.PENDING, "sent_at": None},
    "delivered": {"status": Invitation.Status.DELIVERED},
    "failed": {"status": Invitation.Status.FAILED},
    "completed": {"status": Invitation.Status.COMPLETED},
}


def invitation(organization, **kwargs) -> Invitation:
    defaults = {"created_at": T0 - timedelta(hours=1), "sent_at": T0 - timedelta(minutes=10)}
    return InvitationFactory(organization=organization, **{**defaults, **kwargs})


@pytest.mark.django_db
@pytest.mark.parametrize("kind", KINDS)
def test_the_batch_applies_exactly_the_single_resends_rules_and_messages(organization, kind):
    single, batched = invitation(organization, **KINDS[kind]), invitation(organization, **KINDS[kind])
    with time_machine.travel(T0, tick=False):
        try:
            invitation_resend(invitation=single, actor=ACTOR)
            expected = ("resent", "Send attempt 2 queued.")
        except Exception as refusal:
            expected = (None, str(refusal))
        [result] = invitation_resend_many(invitation_ids=[batched.pk], actor=ACTOR)
    if expected[0] == "resent":
        assert (result.outcome, result.message) == expected
    else:
        assert result.outcome != "resent"
        assert result.message == expected[1]
    single.refresh_from_db()
    batched.refresh_from_db()
    fields = ("status", "sent_at", "delivery_attempts", "error_message")
    assert [getattr(batched, f) for f in fields] == [getattr(single, f) for f in fields]
    audit = ("from_status", "to_status", "reason", "message", "actor_kind", "actor_label", "created_at")
    assert list(InvitationEvent.objects.filter(invitation=batched).values_list(*audit)) == list(
        InvitationEvent.objects.filter(invitation=single).values_list(*audit)
    )
    attempt = ("number", "channel", "livemode", "status")
    assert list(DeliveryAttempt.objects.filter(invitation=batched).values_list(*attempt)) == list(
        DeliveryAttempt.objects.filter(invitation=single).values_list(*attempt)
    )


@pytest.mark.django_db
def test_a_dry_run_writes_nothing_and_says_what_would_happen(organization):
    eligible, cooldown = invitation(organization), invitation(organization, **KINDS["cooldown"])
    with time_machine.travel(T0, tick=False):
        results = invitation_resend_many(invitation_ids=[eligible.pk, cooldown.pk], actor=ACTOR, dry_run=True)
    assert [(r.token, r.outcome) for r in results] == [(eligible.token, "resent"), (cooldown.token, "cooldown")]
    assert results[0].message == "Would queue send attempt 2."
    assert results[1].message.endswith("(remaining_seconds=80)")
    assert not InvitationEvent.objects.exists() and not DeliveryAttempt.objects.exists()
    eligible.refresh_from_db()
    assert (eligible.status, eligible.delivery_attempts) == (Invitation.Status.SENT, 1)


@pytest.mark.django_db
def test_results_follow_the_order_asked_and_unknown_ids_are_not_found(organization):
    a, b = invitation(organization), invitation(organization)
    with time_machine.travel(T0, tick=False):
        results = invitation_resend_many(invitation_ids=[b.pk, 999_999, a.pk, b.pk], actor=ACTOR)
    assert [(r.invitation_id, r.outcome) for r in results] == [
        (b.pk, "resent"),
        (999_999, "not_found"),
        (a.pk, "resent"),
    ]
    assert DeliveryAttempt.objects.count() == 2


@pytest.mark.django_db
def test_nothing_is_enqueued_when_the_surrounding_transaction_rolls_back(organization, delivery_queue):
    row = invitation(organization)

    class Abort(Exception):
        pass

    with time_machine.travel(T0, tick=False), pytest.raises(Abort), transaction.atomic():
        invitation_resend_many(invitation_ids=[row.pk], actor=ACTOR)
        raise Abort
    assert delivery_queue.count == 0
    assert not DeliveryAttempt.objects.exists()
    row.refresh_from_db()
    assert row.status == Invitation.Status.SENT


@pytest.mark.django_db(transaction=True)
def test_the_batchs_deliveries_run_through_a_real_worker_and_are_billed_once_each(organization, run_worker):
    rows = [invitation(organization) for _ in range(5)]
    with time_machine.travel(T0, tick=False):
        heard = []
        invitation_resend_many(invitation_ids=[r.pk for r in rows], actor=ACTOR, on_enqueued=lambda *a: heard.append(a))
        assert heard == [(True, 5)]
        run_worker()
    assert set(Invitation.objects.values_list("status", "delivery_attempts", "sent_at")) == {
        (Invitation.Status.SENT, 2, T0)
    }
    assert DeliveryAttempt.objects.filter(status=DeliveryAttempt.Status.ACCEPTED, number=2).count() == 5
    assert sorted(BillingEvent.objects.values_list("reference", flat=True)) == sorted(r.token for r in rows)


@pytest.mark.django_db(transaction=True)
def test_a_row_held_by_another_transaction_is_skipped_as_busy_without_waiting(organization):
    held, free = invitation(organization), invitation(organization)
    locked, release = threading.Event(), threading.Event()

    def hold_the_row():
        try:
            with transaction.atomic():
                Invitation.objects.select_for_update().get(pk=held.pk)
                locked.set()
                release.wait(timeout=30)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_the_row)
    holder.start()
    try:
        assert locked.wait(timeout=10)
        with time_machine.travel(T0, tick=False):
            results = invitation_resend_many(invitation_ids=[held.pk, free.pk], actor=ACTOR)
    finally:
        release.set()
        holder.join(timeout=30)
    assert [(r.invitation_id, r.outcome) for r in results] == [(held.pk, "busy"), (free.pk, "resent")]
    held.refresh_from_db()
    assert (held.status, held.delivery_attempts) == (Invitation.Status.SENT, 1)
    assert not DeliveryAttempt.objects.filter(invitation=held).exists()
