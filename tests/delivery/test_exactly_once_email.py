"""An email whose earlier try may have reached Postmark unrecorded (the answer lost on a cut
connection, or the worker lost mid-send) is looked for first, with Postmark's outbound message search
by the attempt's metadata: found, it is recorded as that message and sent no more; not found, it is
sent; when Postmark cannot say, it waits for a later try. Postmark takes no idempotency key: the
Postmark-compatible server on 127.0.0.1 makes a message of every call it takes, as Postmark does."""

import io
from datetime import timedelta

import pytest
import requests
import time_machine
from django.conf import settings
from django.core.management import call_command

from billing.models import BillingEvent
from delivery.models import DeliveryAttempt
from invitations.models import Invitation
from invitations.services import invitation_resend_bulk
from tests.conftest import TEST_ACTOR
from tests.delivery.test_batches import sent
from tests.helpers import T0

pytestmark = pytest.mark.django_db

Attempt = DeliveryAttempt.Status


def messages_per_attempt(fake_postmark) -> dict[int, int]:
    counts: dict[int, int] = {}
    for message in fake_postmark.messages:
        pk = int(message["Metadata"]["delivery_attempt_id"])
        counts[pk] = counts.get(pk, 0) + 1
    return counts


def test_a_batch_whose_answer_was_lost_is_found_by_its_metadata_and_sent_once(
    organization, fake_postmark, run_worker, django_capture_on_commit_callbacks
):
    invitations = sent(organization, 5)
    fake_postmark.drop_answers = True  # Postmark takes the batch; its answer never arrives
    with time_machine.travel(T0, tick=False) as clock:
        with django_capture_on_commit_callbacks(execute=True):
            invitation_resend_bulk(invitation_ids=[i.pk for i in invitations], actor=TEST_ACTOR)
        with django_capture_on_commit_callbacks(execute=True):
            run_worker()
        attempts = list(DeliveryAttempt.objects.all())
        assert {(a.status, a.tries) for a in attempts} == {(Attempt.RETRYING, 1)}
        assert all(a.unsure_since is not None for a in attempts)
        assert fake_postmark.batch_calls == 1 and len(fake_postmark.messages) == 5
        fake_postmark.drop_answers = False
        clock.shift(timedelta(seconds=61))
        with django_capture_on_commit_callbacks(execute=True):
            run_worker(with_scheduler=True)
    assert messages_per_attempt(fake_postmark) == {a.pk: 1 for a in attempts}  # nobody got it twice
    assert fake_postmark.lookups == 5
    ids = {message_id for message_id, _message in fake_postmark.sent}
    for attempt in DeliveryAttempt.objects.all():
        assert (attempt.status, attempt.tries) == (Attempt.ACCEPTED, 2)
        assert attempt.provider_message_id in ids  # the message the lost answer would have named
    assert set(Invitation.objects.values_list("status", flat=True)) == {Invitation.Status.SENT}
    assert BillingEvent.objects.count() == 5


@pytest.mark.parametrize("reached_postmark", [True, False], ids=["postmark took it", "postmark never saw it"])
def test_a_send_whose_worker_was_lost_is_settled_by_asking_postmark_first(
    organization, fake_postmark, run_worker, django_capture_on_commit_callbacks, reached_postmark
):
    [invitation] = sent(organization, 1)
    with time_machine.travel(T0, tick=False) as clock:
        with django_capture_on_commit_callbacks(execute=False):
            invitation_resend_bulk(invitation_ids=[invitation.pk], actor=TEST_ACTOR)
        attempt = DeliveryAttempt.objects.get()
        # A worker claimed it and died: `sending` under a claim nobody will finish.
        DeliveryAttempt.objects.filter(pk=attempt.pk).update(status=Attempt.SENDING, claimed_at=T0, tries=1)
        if reached_postmark:
            # ...after its call reached Postmark, which took the message.
            requests.post(
                fake_postmark.url + "/email",
                json={
                    "From": "invitations@example.com",
                    "To": invitation.recipient,
                    "Subject": "Verify your identity",
                    "TextBody": "…",
                    "Headers": [{"Name": "X-Delivery-Attempt", "Value": f"delivery-attempt-{attempt.pk}"}],
                    "Metadata": {"delivery_attempt_id": str(attempt.pk)},
                },
                timeout=5,
            ).raise_for_status()
        clock.shift(timedelta(seconds=settings.DELIVERY_SENDING_TIMEOUT_SECONDS + 1))
        call_command("requeue_deliveries", stdout=io.StringIO())
        with django_capture_on_commit_callbacks(execute=True):
            run_worker()
    attempt.refresh_from_db()
    assert (attempt.status, attempt.tries) == (Attempt.ACCEPTED, 2)
    assert messages_per_attempt(fake_postmark) == {attempt.pk: 1}
    assert fake_postmark.lookups == 1
    [(message_id, _message)] = fake_postmark.sent
    assert attempt.provider_message_id == message_id
    assert BillingEvent.objects.filter(source_id=f"attempt:{attempt.pk}").count() == 1


def test_when_postmark_cannot_say_whether_an_earlier_try_reached_it_nothing_is_sent_until_it_can(
    organization, fake_postmark, run_worker, django_capture_on_commit_callbacks
):
    invitations = sent(organization, 2)
    fake_postmark.drop_answers = True
    with time_machine.travel(T0, tick=False) as clock:
        with django_capture_on_commit_callbacks(execute=True):
            invitation_resend_bulk(invitation_ids=[i.pk for i in invitations], actor=TEST_ACTOR)
        with django_capture_on_commit_callbacks(execute=True):
            run_worker()
        fake_postmark.drop_answers = False
        fake_postmark.search_fails = True
        clock.shift(timedelta(seconds=61))
        with django_capture_on_commit_callbacks(execute=True):
            run_worker(with_scheduler=True)
        for attempt in DeliveryAttempt.objects.all():
            assert (attempt.status, attempt.tries) == (Attempt.RETRYING, 2)
            assert attempt.error_message.startswith(
                "Not sent again yet: the email provider could not say whether an earlier try reached it"
            )
        assert len(fake_postmark.messages) == 2  # the first try's, and no other
        fake_postmark.search_fails = False
        clock.shift(timedelta(minutes=10))
        with django_capture_on_commit_callbacks(execute=True):
            run_worker(with_scheduler=True)
    assert set(DeliveryAttempt.objects.values_list("status", "tries")) == {(Attempt.ACCEPTED, 3)}
    assert len(fake_postmark.messages) == 2
    assert BillingEvent.objects.count() == 2
