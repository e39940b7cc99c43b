"""Writes combined in one PostgreSQL statement (ops.sql), on the real database."""

import pytest
from django.db import DatabaseError, DataError, connection, transaction
from django.utils import timezone

from invitations.models import Invitation, InvitationEvent
from ops.sql import Write, rows_insert, rows_update, writes_run
from tests.factories import InvitationFactory

pytestmark = pytest.mark.django_db
COLUMNS = [model_field.name for model_field in InvitationEvent._meta.concrete_fields if not model_field.primary_key]


def test_each_row_gets_its_own_values_and_inserts_return_their_ids_in_order(organization):
    invitations = [InvitationFactory(organization=organization) for _ in range(3)]
    long_reference = "r" * 190
    for number, invitation in enumerate(invitations, start=2):
        invitation.delivery_attempts = number
        invitation.reference = f"{long_reference}-{number}"
    now = timezone.now()
    audits = [
        InvitationEvent(invitation=invitation, from_status="sent", to_status="sent", reason="resend", created_at=now)
        for invitation in invitations
    ]
    returned = writes_run(
        connection,
        [
            rows_update("moved", invitations, ["delivery_attempts", "reference"], connection),
            rows_insert(
                "audit",
                audits,
                COLUMNS,
                connection,
                returning="invitation_id",
            ),
        ],
    )

    assert returned == {"audit": [invitation.pk for invitation in invitations]}
    stored = dict(Invitation.objects.values_list("pk", "delivery_attempts"))
    assert stored == {invitation.pk: number for number, invitation in enumerate(invitations, start=2)}
    assert sorted(Invitation.objects.values_list("reference", flat=True)) == [
        f"{long_reference}-{number}" for number in (2, 3, 4)
    ]
    assert InvitationEvent.objects.filter(created_at=now).count() == 3


def test_one_failing_write_leaves_nothing_of_the_others(organization):
    invitation = InvitationFactory(organization=organization, delivery_attempts=1)
    invitation.delivery_attempts = 5
    # An audit row without its NOT NULL columns: refused when the statement runs.
    broken = Write(
        "broken", "INSERT INTO invitations_invitationevent (invitation_id) VALUES (%s::bigint)", [invitation.pk]
    )
    with pytest.raises(DatabaseError), transaction.atomic():
        writes_run(connection, [rows_update("moved", [invitation], ["delivery_attempts"], connection), broken])

    invitation.refresh_from_db()
    assert invitation.delivery_attempts == 1


def test_a_value_longer_than_its_column_is_refused_not_cut(organization):
    """The values are cast to varchar, not to the column's varchar(200): a cast to that would cut a
    longer value without a word; the column itself refuses it."""
    invitation = InvitationFactory(organization=organization, reference="kept")
    invitation.reference = "r" * 201
    with pytest.raises(DataError), transaction.atomic():
        writes_run(connection, [rows_update("moved", [invitation], ["reference"], connection)])

    invitation.refresh_from_db()
    assert invitation.reference == "kept"
