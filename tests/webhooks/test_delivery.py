"""Outbound webhooks end to end: invitation changes become signed Standard Webhooks deliveries to a
real HTTP receiver, through real rq workers, retried on schedule, never lost, never doubled."""

from datetime import timedelta

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone
from standardwebhooks import Webhook, WebhookVerificationError

from invitations.models import Invitation
from tests.conftest import client_for
from tests.factories import InvitationFactory
from tests.helpers import T0
from tests.helpers import created as create
from webhooks.dispatch import webhook_deliveries_dispatch
from webhooks.models import Event, WebhookDelivery, WebhookTry
from webhooks.services import webhook_endpoint_create, webhook_endpoint_rotate_secret, webhook_outbox_sweep

pytestmark = pytest.mark.django_db


def verify(secret: str, message) -> dict:
    """What a customer's receiver does, with the reference library."""
    headers = {name.lower(): value for name, value in message.headers.items()}
    return Webhook(secret).verify(message.body, headers)


def test_a_created_and_sent_invitation_reaches_the_endpoint_signed_in_order(
    api, endpoint, receiver, run_worker, run_webhook_worker, django_capture_on_commit_callbacks
):
    endpoint, secret = endpoint
    invitation = create(api, django_capture_on_commit_callbacks)
    run_worker()  # the email is sent: invitation.sent
    run_webhook_worker()
    # Up to WEBHOOK_ENDPOINT_CONCURRENCY tries are in flight at once, so arrival order is not promised
    # (as with Standard Webhooks senders generally); each body says what the invitation was then.
    by_type = {message.json["type"]: message for message in receiver.received}
    assert sorted(by_type) == ["invitation.created", "invitation.sent"] and len(receiver.received) == 2
    for message in receiver.received:
        body = verify(secret, message)
        assert body["data"]["invitation"]["token"] == invitation.token
        assert message.headers["webhook-id"] == body["id"] and body["id"].startswith("evt_")
    assert by_type["invitation.created"].json["data"]["invitation"]["status"] == "pending"
    assert by_type["invitation.sent"].json["data"]["invitation"]["status"] == "sent"
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {WebhookDelivery.Status.SUCCEEDED}


def test_a_resend_reaches_the_endpoint_as_resent_then_sent_with_who_asked(
    api, endpoint, receiver, run_worker, run_webhook_worker, django_capture_on_commit_callbacks, organization
):
    endpoint, secret = endpoint
    invitation = InvitationFactory(organization=organization, sent_at=timezone.now() - timedelta(minutes=5))
    with django_capture_on_commit_callbacks(execute=True):
        assert api.post(f"/v1/autodoc/invitations/{invitation.token}/resend").status_code == 200
    run_worker()
    run_webhook_worker()
    assert sorted(receiver.types()) == ["invitation.resent", "invitation.sent"]
    resent = verify(secret, next(m for m in receiver.received if m.json["type"] == "invitation.resent"))
    assert resent["data"]["requestedBy"]["kind"] == "api_key"
    assert resent["data"]["requestedBy"]["label"].startswith("api_key:private_")
    assert resent["data"]["invitation"]["deliveryAttempts"] == 2


def test_after_rotation_both_secrets_verify_for_a_day_then_only_the_new_one(
    organization, receiver, django_capture_on_commit_callbacks
):
    with time_machine.travel(T0, tick=False):
        endpoint, old = webhook_endpoint_create(organization=organization, livemode=True, url=receiver.url())
        new = webhook_endpoint_rotate_secret(endpoint=endpoint)
        with django_capture_on_commit_callbacks(execute=True):
            InvitationFactory(organization=organization)  # no event: factories skip the services
            from webhooks.services import webhook_endpoint_test

            webhook_endpoint_test(endpoint=endpoint)
        webhook_deliveries_dispatch()
        assert verify(old, receiver.received[-1]) and verify(new, receiver.received[-1])
        assert len(receiver.received[-1].headers["webhook-signature"].split(" ")) == 2
    with time_machine.travel(T0 + timedelta(hours=24, seconds=1), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            webhook_endpoint_test(endpoint=endpoint)
        webhook_deliveries_dispatch()
        assert verify(new, receiver.received[-1])
        with pytest.raises(WebhookVerificationError):
            verify(old, receiver.received[-1])


def test_a_receiver_answering_500_twice_then_200_gets_three_tries_on_schedule_and_one_success(
    api, endpoint, receiver, settings, django_capture_on_commit_callbacks, organization
):
    settings.WEBHOOK_RETRY_INTERVALS = [5, 10]
    endpoint, secret = endpoint
    receiver.answers = [(500, 0), (500, 0)]
    with time_machine.travel(T0, tick=False) as clock:
        with django_capture_on_commit_callbacks(execute=True):
            from webhooks.services import webhook_endpoint_test

            event = webhook_endpoint_test(endpoint=endpoint)
        assert webhook_deliveries_dispatch() == 1
        delivery = WebhookDelivery.objects.get()
        assert (delivery.status, delivery.next_attempt_at) == (
            WebhookDelivery.Status.RETRYING,
            T0 + timedelta(seconds=5),
        )
        clock.shift(4)
        assert webhook_deliveries_dispatch() == 0  # not due yet
        clock.shift(1)
        assert webhook_deliveries_dispatch() == 1
        clock.shift(10)
        assert webhook_deliveries_dispatch() == 1
        assert webhook_deliveries_dispatch() == 0  # a 2xx settles it: never sent again
    response = api.get(f"/v1/webhooks/endpoints/{endpoint.public_id}/deliveries")
    tries = response.json()["data"]
    assert [(t["attempt"], t["status"], t["responseStatus"]) for t in tries] == [
        (3, "succeeded", 200),
        (2, "retrying", 500),
        (1, "retrying", 500),
    ]
    assert tries[1]["responseBody"] == "receiver says no"
    assert {t["eventId"] for t in tries} == {event.public_id}
    assert len({m.headers["webhook-id"] for m in receiver.received}) == 1
    assert WebhookDelivery.objects.get().status == WebhookDelivery.Status.SUCCEEDED


def test_the_last_failed_try_leaves_the_delivery_failed(
    endpoint, receiver, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_RETRY_INTERVALS = [0]
    endpoint, _ = endpoint
    receiver.answers = [(503, 0), (503, 0)]
    from webhooks.services import webhook_endpoint_test

    with django_capture_on_commit_callbacks(execute=True):
        webhook_endpoint_test(endpoint=endpoint)
    assert webhook_deliveries_dispatch() == 2
    assert WebhookDelivery.objects.get().status == WebhookDelivery.Status.FAILED


def test_a_receiver_that_hangs_is_cut_at_the_timeout(endpoint, receiver, settings, django_capture_on_commit_callbacks):
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    endpoint, _ = endpoint
    receiver.answers = [(200, 30)]
    from webhooks.services import webhook_endpoint_test

    with django_capture_on_commit_callbacks(execute=True):
        webhook_endpoint_test(endpoint=endpoint)
    assert webhook_deliveries_dispatch() == 1
    attempt = WebhookTry.objects.get()
    assert attempt.status == WebhookDelivery.Status.RETRYING
    assert "timed out" in attempt.error
    assert 900 <= attempt.duration_ms < 5000


def test_a_rolled_back_change_emits_nothing(organization, endpoint, django_capture_on_commit_callbacks):
    from accounts.principals import Actor
    from invitations.services import invitation_resend

    invitation = InvitationFactory(organization=organization, sent_at=timezone.now() - timedelta(minutes=5))
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        with transaction.atomic():
            invitation_resend(invitation=invitation, actor=Actor.system("test"))
            assert Event.objects.count() == 1  # written with the change...
            raise RuntimeError("caller changed its mind")
    assert not Event.objects.exists()  # ...and gone with it
    assert not WebhookDelivery.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_with_redis_down_at_the_change_the_event_arrives_after_redis_returns_through_the_sweeper(
    organization, receiver, own_redis, settings, run_webhook_worker
):
    from accounts.principals import Actor
    from invitations.services import invitation_resend

    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    webhook_endpoint_create(organization=organization, livemode=True, url=receiver.url())
    invitation = InvitationFactory(organization=organization, sent_at=timezone.now() - timedelta(minutes=5))
    own_redis.stop()
    invitation_resend(invitation=invitation, actor=Actor.system("test"))  # commits; enqueues fail
    assert WebhookDelivery.objects.get().status == WebhookDelivery.Status.PENDING
    own_redis.start()
    assert webhook_outbox_sweep()["dispatched"] is True
    webhook_deliveries_dispatch()
    assert receiver.types() == ["invitation.resent"]
    assert WebhookDelivery.objects.get().status == WebhookDelivery.Status.SUCCEEDED


def test_a_resend_with_one_subscribed_endpoint_costs_one_more_statement(
    organization, live_key, receiver, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    api = client_for(live_key)

    def statements() -> int:
        invitation = InvitationFactory(organization=organization, sent_at=timezone.now() - timedelta(minutes=5))
        with CaptureQueriesContext(connection) as queries:
            assert api.post(f"/v1/autodoc/invitations/{invitation.token}/resend").status_code == 200
        return len(queries.captured_queries)

    statements()  # the key's first use of the minute also records it: leave that out of both counts
    without = statements()
    webhook_endpoint_create(organization=organization, livemode=True, url=receiver.url())
    with_endpoint = statements()
    # The endpoints are read either way; one subscribed adds the INSERT of its pending delivery.
    assert with_endpoint == without + 1


def test_the_sweep_announces_each_expired_invitation_once(organization, endpoint, receiver):
    from invitations.services.recipient import invitations_expired_announce

    endpoint, secret = endpoint
    with time_machine.travel(T0, tick=False):
        expiring = InvitationFactory(organization=organization, expires_at=T0 + timedelta(hours=1))
        InvitationFactory(
            organization=organization, status=Invitation.Status.COMPLETED, expires_at=T0 + timedelta(hours=1)
        )
        InvitationFactory(organization=organization, expires_at=T0 + timedelta(days=3))
        assert invitations_expired_announce() == 0
    with time_machine.travel(T0 + timedelta(hours=2), tick=False):
        assert invitations_expired_announce() == 1
        assert invitations_expired_announce() == 0
    webhook_deliveries_dispatch()
    [message] = receiver.received
    assert verify(secret, message)["type"] == "invitation.expired"
    assert message.json["data"]["invitation"]["token"] == expiring.token


def test_a_redelivery_asked_for_while_a_try_is_in_flight_is_not_settled_by_that_try(organization, endpoint):
    """The try records its answer, but the delivery stays pending: it is sent again."""
    from webhooks import guard
    from webhooks.dispatch import _claim, _record, _redis
    from webhooks.services import webhook_endpoint_test, webhook_event_redeliver
    from webhooks.slots import Slots

    endpoint, _ = endpoint
    event = webhook_endpoint_test(endpoint=endpoint)
    [claimed] = _claim(limit=1, slots=Slots(_redis()))
    webhook_event_redeliver(event=event, endpoint=endpoint)  # by hand, while the try is out
    _record(claimed, guard.Answer(200, "", 5))
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == WebhookDelivery.Status.PENDING and delivery.claimed_at is None
    assert WebhookTry.objects.get().status == WebhookDelivery.Status.SUCCEEDED


def test_a_try_whose_endpoint_was_deleted_meanwhile_is_dropped(organization, endpoint):
    from webhooks import guard
    from webhooks.dispatch import _claim, _record, _redis
    from webhooks.services import webhook_endpoint_test
    from webhooks.slots import Slots

    endpoint, _ = endpoint
    webhook_endpoint_test(endpoint=endpoint)
    [claimed] = _claim(limit=1, slots=Slots(_redis()))
    endpoint.delete()
    _record(claimed, guard.Answer(200, "", 5))  # no error, nothing written
    assert not WebhookTry.objects.exists()
