"""Create, read and list invitations through the API, delivered by a real rq worker."""

from datetime import timedelta

import pytest
import time_machine
from django.core import mail

from delivery import sms
from delivery.models import DeliveryAttempt
from invitations.models import Invitation, InvitationEvent
from tests.factories import InvitationFactory, WorkflowFactory
from tests.helpers import T0, create

pytestmark = pytest.mark.django_db

URL = "/v1/autodoc/invitations"


def test_create_answers_201_pending_and_queues_one_delivery_after_commit(
    api, delivery_queue, django_capture_on_commit_callbacks
):
    with time_machine.travel(T0, tick=False), django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = create(api, reference="crm-4711", locale="pt-BR")
        # Nothing reaches Redis until the transaction commits.
        assert delivery_queue.count == 0
    for callback in callbacks:
        callback()
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "pending"
    assert body["deliveryAttempts"] == 1
    assert body["livemode"] is True
    assert body["reference"] == "crm-4711"
    assert body["locale"] == "pt-BR"
    assert body["token"].startswith("adi_") and len(body["token"]) == 28
    assert body["link"].endswith(f"/i/{body['token']}")
    assert body["createdAt"] == "2026-03-02T09:00:00Z"
    assert body["expiresAt"] == "2026-04-01T09:00:00Z"
    assert delivery_queue.count == 1
    event = InvitationEvent.objects.get(invitation__token=body["token"])
    assert (event.from_status, event.to_status, event.reason) == ("", "pending", "created")


def test_a_worker_delivers_the_first_email_with_the_link_and_marks_it_sent(
    api, run_worker, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        token = create(api).json()["token"]
    assert run_worker() == 1
    invitation = Invitation.objects.get(token=token)
    assert invitation.status == Invitation.Status.SENT
    assert invitation.sent_at is not None
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ana@example.com"]
    assert invitation.link in message.body
    assert invitation.link in message.alternatives[0][0]
    attempt = DeliveryAttempt.objects.get(invitation=invitation)
    assert attempt.status == DeliveryAttempt.Status.ACCEPTED
    assert attempt.provider_message_id


def test_sms_recipient_is_normalized_to_e164_and_sent_with_the_link(
    api, run_worker, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = create(api, channel="sms", recipient="+1 (415) 555-0123")
    assert response.status_code == 201
    assert response.json()["recipient"] == "+14155550123"
    run_worker()
    assert [m.to for m in sms.outbox] == ["+14155550123"]
    assert response.json()["link"] in sms.outbox[0].body


def test_the_chosen_workflow_is_used_and_an_unknown_one_is_refused(api, organization):
    workflow = WorkflowFactory(organization=organization, is_default=False, name="KYC")
    assert create(api, workflowToken=workflow.token).json()["workflowToken"] == workflow.token
    response = create(api, workflowToken="wf_unknown")
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == {"workflowToken": ["No workflow with this token."]}


def test_another_organizations_workflow_cannot_be_used(api, other_organization):
    foreign = WorkflowFactory(organization=other_organization)
    assert create(api, workflowToken=foreign.token).status_code == 422
    assert not Invitation.objects.exists()


def test_an_idempotency_key_makes_a_repeated_create_return_the_first_invitation(api):
    first = api.post(URL, {"channel": "email", "recipient": "a@example.com"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = api.post(URL, {"channel": "email", "recipient": "a@example.com"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 201
    assert first.json()["token"] == again.json()["token"]
    assert Invitation.objects.count() == 1
    assert DeliveryAttempt.objects.count() == 1
    other = api.post(URL, {"channel": "email", "recipient": "b@example.com"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert other.status_code == 422
    assert Invitation.objects.count() == 1


def test_without_an_idempotency_key_two_creates_make_two_invitations(api):
    create(api)
    create(api)
    assert Invitation.objects.count() == 2


def test_get_accepts_the_prefixed_and_the_raw_token(api, organization):
    invitation = InvitationFactory(organization=organization)
    for token in (invitation.token, invitation.token.removeprefix("adi_")):
        response = api.get(f"{URL}/{token}")
        assert response.status_code == 200
        assert response.json()["token"] == invitation.token


def test_list_is_newest_first_and_paginated(api, organization):
    invitations = [InvitationFactory(organization=organization, created_at=T0 + timedelta(minutes=i)) for i in range(5)]
    response = api.get(URL, {"per_page": 2, "page": 2})
    body = response.json()
    assert [row["token"] for row in body["data"]] == [invitations[2].token, invitations[1].token]
    assert body["pagination"] == {"total": 5, "totalPages": 3, "page": 2, "perPage": 2, "totalCapped": False}
    beyond = api.get(URL, {"per_page": 2, "page": 9}).json()
    assert beyond["data"] == [] and beyond["pagination"]["total"] == 5


def test_list_defaults_to_twenty_per_page(api, organization):
    InvitationFactory.create_batch(21, organization=organization)
    body = api.get(URL).json()
    assert len(body["data"]) == 20
    assert body["pagination"] == {"total": 21, "totalPages": 2, "page": 1, "perPage": 20, "totalCapped": False}


@pytest.mark.parametrize(
    "params",
    [
        {"per_page": 0},
        {"per_page": 101},
        {"page": 0},
        {"status": "lost"},
        {"channel": "fax"},
        {"date_from": "yesterday"},
        {"date_to": "2026-02-30"},
    ],
)
def test_list_refuses_out_of_range_parameters(api, params):
    response = api.get(URL, params)
    assert response.status_code == 422
    assert set(response.json()["error"]["fields"]) == set(params)


def test_list_filters_combine(api, organization):
    kyc = WorkflowFactory(organization=organization, is_default=False)
    match = InvitationFactory(
        organization=organization,
        workflow=kyc,
        status="delivered",
        channel="sms",
        recipient="+14155550123",
        reference="crm-1",
        created_at=T0,
    )
    InvitationFactory(
        organization=organization,
        workflow=kyc,
        status="sent",
        channel="sms",
        recipient="+14155550124",
        reference="crm-1",
        created_at=T0,
    )
    InvitationFactory(
        organization=organization,
        status="delivered",
        channel="email",
        recipient="Ana.Lopez@Example.com",
        reference="crm-2",
        created_at=T0 - timedelta(days=3),
    )

    def tokens(**params):
        return [row["token"] for row in api.get(URL, params).json()["data"]]

    assert tokens(status="delivered", channel="sms") == [match.token]
    assert tokens(reference="crm-1", workflow_token=kyc.token, status="delivered") == [match.token]
    assert len(tokens(search="ana.lopez@example")) == 1
    assert len(tokens(search="555012")) == 2
    assert len(tokens(date_from="2026-03-01")) == 2
    assert len(tokens(date_to="2026-02-27")) == 1
    assert tokens(date_from="2026-03-02T09:00:00Z", date_to="2026-03-02T09:00:00Z", status="delivered") == [match.token]


def test_list_shows_only_the_callers_organization_and_mode(api, organization, other_organization):
    mine = InvitationFactory(organization=organization)
    InvitationFactory(organization=organization, livemode=False)
    InvitationFactory(organization=other_organization)
    assert [row["token"] for row in api.get(URL).json()["data"]] == [mine.token]


@pytest.mark.parametrize("hidden", ["\u202e", "\ufeff", "\u200b", "\u2066", "\x07"])
def test_a_reference_with_bidirectional_zero_width_or_control_characters_is_refused(api, hidden):
    response = create(api, reference=f"crm{hidden}4711")
    assert response.status_code in (400, 422), response.json()
    assert "reference" in response.json()["error"]["fields"]
    assert create(api, reference="crm-4711 ünïcødé").status_code == 201
