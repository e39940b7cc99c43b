"""Many clients resending one invitation at once: the row lock lets exactly one through."""

import threading
from datetime import timedelta

import pytest
from django.db import connection

from delivery.models import DeliveryAttempt
from invitations.models import Invitation
from tests.conftest import client_for
from tests.factories import InvitationFactory


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_resends_let_exactly_one_through(organization, live_key, delivery_queue):
    from django.utils import timezone

    invitation = InvitationFactory(organization=organization, sent_at=timezone.now() - timedelta(minutes=10))
    barrier = threading.Barrier(20)
    statuses: list[int] = []
    lock = threading.Lock()

    def resend():
        try:
            client = client_for(live_key)
            barrier.wait()
            response = client.post(f"/v1/autodoc/invitations/{invitation.token}/resend")
            with lock:
                statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=resend) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert len(statuses) == 20
    assert statuses.count(200) == 1
    assert set(statuses) <= {200, 409, 429}
    invitation.refresh_from_db()
    assert invitation.delivery_attempts == 2
    assert invitation.status == Invitation.Status.PENDING
    assert DeliveryAttempt.objects.filter(invitation=invitation).count() == 1
    assert delivery_queue.count == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_creates_with_one_idempotency_key_make_one_invitation(organization, live_key):
    barrier = threading.Barrier(10)
    tokens: list[tuple[int, str | None, str | None]] = []
    lock = threading.Lock()

    def create():
        try:
            client = client_for(live_key)
            barrier.wait()
            response = client.post(
                "/v1/autodoc/invitations",
                {"channel": "email", "recipient": "a@example.com"},
                format="json",
                HTTP_IDEMPOTENCY_KEY="order-42",
            )
            with lock:
                body = response.json()
                tokens.append(
                    (
                        response.status_code,
                        body.get("token") or body["error"]["type"],
                        response.get("Idempotent-Replayed"),
                    )
                )
        finally:
            connection.close()

    threads = [threading.Thread(target=create) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert len(tokens) == 10
    # Exactly one request ran; the others got its answer again or were told it was still running.
    ran = [token for status, token, replayed in tokens if status == 201 and replayed is None]
    assert len(ran) == 1
    assert {(status, token, replayed) for status, token, replayed in tokens} <= {
        (201, ran[0], None),
        (201, ran[0], "true"),
        (409, "idempotency_key_in_use", None),
    }
    assert Invitation.objects.count() == 1
    assert DeliveryAttempt.objects.count() == 1
