"""Request-Id on every answer, requestId in every envelope, the id in log lines and in the jobs a
request queues, and the per-organization request log behind GET /v1/requests."""

import logging
import time
from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from accounts.services import api_key_create
from requestlog.jobs import sweep_request_log
from requestlog.models import RequestLogEntry
from requestlog.store import request_log_send
from tests.conftest import TEST_ACTOR, client_for
from tests.factories import InvitationFactory, OrganizationFactory, StaffUserFactory
from tests.helpers import T0

pytestmark = pytest.mark.django_db

UA = {"HTTP_USER_AGENT": "crm-sync/2.1"}


@pytest.mark.parametrize("path", ["/healthz", "/v1/autodoc/invitations", "/admin/login/", "/nowhere", "/i/adi_x"])
def test_every_answer_on_every_path_carries_a_request_id(client, path):
    response = client.get(path)
    assert response["Request-Id"].startswith("req_") and len(response["Request-Id"]) == 28


def test_an_error_envelope_names_the_request_id_of_its_answer(client, api):
    for response in (
        client.get("/v1/autodoc/invitations"),
        api.get("/v1/autodoc/invitations/adi_nope"),
        api.get("/v1/x"),
    ):
        assert response.status_code in (401, 404)
        assert response.json()["error"]["requestId"] == response["Request-Id"]


def test_two_answers_never_share_an_id(api):
    assert len({api.get("/v1/autodoc/invitations")["Request-Id"] for _ in range(20)}) == 20


def test_a_log_line_written_while_answering_names_the_request(api, caplog):
    with caplog.at_level(logging.WARNING):
        response = api.get("/v1/autodoc/invitations/adi_nope")
    lines = [record for record in caplog.records if record.name == "django.request"]
    assert lines and {record.request_id for record in lines} == {response["Request-Id"]}


def test_a_job_a_request_queues_carries_its_id_into_the_workers_log_lines(
    api, delivery_queue, run_worker, django_capture_on_commit_callbacks, caplog
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/v1/autodoc/invitations", {"channel": "email", "recipient": "ana@example.com"}, format="json"
        )
    [job] = delivery_queue.get_jobs()
    assert job.meta["request_id"] == response["Request-Id"]
    with caplog.at_level(logging.INFO):
        run_worker()
    worker_lines = [r for r in caplog.records if r.name == "delivery.services.sending"]
    assert [r.getMessage().split(" by ")[0] for r in worker_lines] == [f"Delivery attempt {job.args[0]} accepted"]
    assert worker_lines[0].request_id == response["Request-Id"]


def _requests(client, **query) -> list[dict]:
    response = client.get("/v1/requests", query)
    assert response.status_code == 200, response.content
    return response.json()["data"]


def test_the_log_lists_a_create_a_get_and_a_refused_resend_newest_first_and_not_a_bad_key(api, live_key, organization):
    with time_machine.travel(T0, tick=True):
        created = api.post(
            "/v1/autodoc/invitations", {"channel": "email", "recipient": "ana@example.com"}, format="json", **UA
        )
        token = created.json()["token"]
        got = api.get(f"/v1/autodoc/invitations/{token}", **UA)
        refused = api.post(f"/v1/autodoc/invitations/{token}/resend", HTTP_IDEMPOTENCY_KEY="r-1", **UA)
        bad = client_for("private_" + "x" * 40).get("/v1/autodoc/invitations", **UA)
    assert (created.status_code, got.status_code, refused.status_code, bad.status_code) == (201, 200, 409, 401)

    entries = _requests(api)
    assert [(e["method"], e["path"], e["status"], e["errorType"]) for e in entries] == [
        ("POST", f"/v1/autodoc/invitations/{token}/resend", 409, "invalid_status"),
        ("GET", f"/v1/autodoc/invitations/{token}", 200, None),
        ("POST", "/v1/autodoc/invitations", 201, None),
    ]
    assert [e["id"] for e in entries] == [refused["Request-Id"], got["Request-Id"], created["Request-Id"]]
    newest = entries[0]
    assert newest["userAgent"] == "crm-sync/2.1" and newest["ip"] == "127.0.0.1"
    assert newest["credential"]["kind"] == "api_key"
    assert live_key.startswith(newest["credential"]["label"]) and newest["credential"]["label"] != live_key
    assert newest["idempotencyKey"] == "r-1" and entries[1]["idempotencyKey"] is None
    assert isinstance(newest["durationMs"], int) and newest["createdAt"].startswith("2026-03-02T09:00:")
    # The listing itself is logged too, for the next read.
    assert _requests(api)[0]["path"] == "/v1/requests"
    # Nothing of any body, and no secret, is kept.
    stored = str(list(RequestLogEntry.objects.values()))
    assert "ana@example.com" not in stored and live_key not in stored


def test_another_organization_and_the_other_mode_see_none_of_it(api, sandbox_api, other_organization):
    api.get("/v1/autodoc/invitations")
    foreign = client_for(api_key_create(organization=other_organization, livemode=True, actor=TEST_ACTOR)[1])
    assert _requests(foreign) == []
    assert [e["path"] for e in _requests(sandbox_api)] == []
    assert len(_requests(api)) == 1


def test_the_filters_narrow_the_log(api, organization):
    def about(**query):
        # Each listing is logged as well; leave those out.
        return [e for e in _requests(api, **query) if e["path"] != "/v1/requests"]

    invitation = InvitationFactory(organization=organization)
    other = InvitationFactory(organization=organization)
    with time_machine.travel(T0, tick=True) as clock:
        api.get(f"/v1/autodoc/invitations/{invitation.token}")
        api.post(f"/v1/autodoc/invitations/{invitation.token}/resend")
        api.get(f"/v1/autodoc/invitations/{other.token}/history")
        clock.shift(timedelta(days=1))
        api.get("/v1/autodoc/invitations")
    assert [e["status"] for e in about(method="POST")] == [429]
    assert len(about(status=200)) == 3
    assert [e["path"] for e in about(path="/history")] == [f"/v1/autodoc/invitations/{other.token}/history"]
    named = about(invitation=invitation.token.removeprefix("adi_"))
    assert [e["method"] for e in named] == ["POST", "GET"]
    assert [e["path"] for e in about(date_to="2026-03-02")][-1] == f"/v1/autodoc/invitations/{invitation.token}"
    assert [e["path"] for e in about(date_from="2026-03-03")][-1] == "/v1/autodoc/invitations"
    assert api.get("/v1/requests", {"status": "abc"}).json()["error"]["type"] == "validation_error"


def test_a_create_names_the_invitation_it_made(api):
    token = api.post("/v1/autodoc/invitations", {"channel": "email", "recipient": "a@example.com"}, format="json")
    assert [e["method"] for e in _requests(api, invitation=token.json()["token"])] == ["POST"]


def test_with_the_log_store_down_the_request_is_answered_and_the_loss_is_logged(api, own_redis, caplog):
    own_redis.stop()
    with caplog.at_level(logging.WARNING, logger="requestlog.store"):
        body = {"channel": "email", "recipient": "a@example.com"}
        response = api.post("/v1/autodoc/invitations", body, format="json")
        assert response.status_code == 201
        request_log_send()  # or the sender thread did, a moment ago
        deadline = time.monotonic() + 5
        while not (lost := [r.getMessage() for r in caplog.records if r.name == "requestlog.store"]):
            assert time.monotonic() < deadline
            time.sleep(0.01)
    assert len(lost) == 1 and lost[0].startswith(f"1 request log entries lost ({response['Request-Id']}): ")
    # The list still answers, from what PostgreSQL holds.
    assert api.get("/v1/requests").status_code == 200


def test_without_redis_the_entry_is_written_straight_to_the_database(api, settings):
    settings.DELIVERY_INLINE = True
    response = api.get("/v1/autodoc/invitations")
    assert RequestLogEntry.objects.get().public_id == response["Request-Id"]


def test_the_sweep_moves_the_stream_to_postgresql_and_forgets_entries_past_retention(api, settings):
    with time_machine.travel(T0, tick=True) as clock:
        api.get("/v1/autodoc/invitations")
        api.get("/v1/autodoc/invitations")
        assert sweep_request_log()["moved"] == 2
        assert RequestLogEntry.objects.count() == 2
        clock.shift(timedelta(days=settings.REQUEST_LOG_RETENTION_DAYS, seconds=1))
        api.get("/v1/autodoc/invitations")
        result = sweep_request_log()
    assert (result["moved"], result["entries_deleted"]) == (1, 2)
    assert RequestLogEntry.objects.count() == 1


def test_the_admin_shows_recent_requests_on_the_organization_and_the_invitation(api, organization):
    created = api.post(
        "/v1/autodoc/invitations", {"channel": "email", "recipient": "a@example.com"}, format="json", **UA
    )
    api.get("/v1/autodoc/invitations", **UA)
    sweep_request_log()
    staff = StaffUserFactory(
        username="support",
        permissions=("invitations.view_invitation", "accounts.view_organization", "accounts.change_organization"),
    )
    admin = Client()
    admin.force_login(staff)
    from invitations.models import Invitation

    invitation = Invitation.objects.get(token=created.json()["token"])
    # Another tenant probing this token (a 404 for it) is none of this invitation's business.
    prober = client_for(
        api_key_create(organization=OrganizationFactory(), livemode=True, name="x", actor=TEST_ACTOR)[1]
    )
    assert prober.get(f"/v1/autodoc/invitations/{invitation.token}", HTTP_USER_AGENT="prober/1").status_code == 404
    sweep_request_log()
    page = admin.get(reverse("admin:invitations_invitation_change", args=[invitation.pk])).content.decode()
    section = page[page.index("field-recent_requests") :]
    assert "POST /v1/autodoc/invitations" in section and "crm-sync/2.1" in section
    assert "prober/1" not in section
    org_page = admin.get(reverse("admin:accounts_organization_change", args=[organization.pk])).content.decode()
    org_section = org_page[org_page.index("field-recent_requests") :]
    assert org_section.index("GET /v1/autodoc/invitations") < org_section.index("POST /v1/autodoc/invitations")
