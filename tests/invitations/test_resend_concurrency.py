"""Many clients resending one invitation at once: the row lock lets exactly one through."""

from datetime import timedelta

import pytest

from delivery.models import DeliveryAttempt
from invitations.models import Invitation
from tests.conftest import at_once, client_for
from tests.factories import InvitationFactory


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_resends_let_exactly_one_through(organization, live_key, delivery_queue):
    from django.utils import timezone

    invitation = InvitationFactory(organization=organization, sent_at=timezone.now() - timedelta(minutes=10))
    statuses = at_once(
        20, lambda: client_for(live_key).post(f"/v1/autodoc/invitations/{invitation.token}/resend").status_code
    )

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
    def create():
        response = client_for(live_key).post(
            "/v1/autodoc/invitations",
            {"channel": "email", "recipient": "a@example.com"},
            format="json",
            HTTP_IDEMPOTENCY_KEY="order-42",
        )
        body = response.json()
        return response.status_code, body.get("token") or body["error"]["type"], response.get("Idempotent-Replayed")

    tokens = at_once(10, create)
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
