"""A request waits at most DB_REQUEST_TIMEOUT_SECONDS for the database: behind a row lock another
transaction holds, it is answered 503 service_unavailable with nothing half-done, and goes through
once the lock is gone."""

import time
from datetime import timedelta

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from delivery.models import DeliveryAttempt
from invitations.models import Invitation
from tests.factories import InvitationFactory

pytestmark = pytest.mark.django_db(transaction=True)


def lock_holder() -> psycopg.Connection:
    """A connection of the test's own, in a transaction, beside the service's."""
    db = connection.settings_dict
    return psycopg.connect(host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"], dbname=db["NAME"])


def test_a_resend_behind_a_row_lock_past_the_deadline_answers_503_and_changes_nothing(api, organization, settings):
    settings.DB_REQUEST_TIMEOUT_SECONDS = 1
    invitation = InvitationFactory(organization=organization, sent_at=timezone.now() - timedelta(minutes=10))
    with lock_holder() as holder:
        holder.execute("SELECT id FROM invitations_invitation WHERE id = %s FOR UPDATE", [invitation.pk])
        started = time.monotonic()
        response = api.post(f"/v1/autodoc/invitations/{invitation.token}/resend")
        took = time.monotonic() - started
        holder.rollback()
    assert response.status_code == 503, response.json()
    assert response.json()["error"]["type"] == "service_unavailable"
    assert 0.9 <= took < 3, took
    invitation.refresh_from_db()
    assert (invitation.status, invitation.delivery_attempts) == (Invitation.Status.SENT, 1)
    assert not DeliveryAttempt.objects.filter(invitation=invitation).exists()
    # The lock gone, the same request goes through.
    assert api.post(f"/v1/autodoc/invitations/{invitation.token}/resend").status_code == 200
