"""The timeline: every send with its provider events and who asked for it (…/attempts), every status
change with its actor (…/history), and the admin page's table of both."""

from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from accounts.models import ApiKey
from delivery.models import DeliveryAttempt
from delivery.timeline import attempt_timeline_rows
from invitations.models import Invitation
from tests.conftest import client_for
from tests.delivery.conftest import POSTMARK_URL, postmark_accepted
from tests.delivery.test_email_events import bounce, delivery, metadata, open_, post_webhook, resend, send_invitation
from tests.factories import InvitationFactory, StaffUserFactory
from tests.helpers import T0

pytestmark = pytest.mark.django_db


@pytest.fixture
def timeline_invitation(api, client, postmark, run_worker, django_capture_on_commit_callbacks, live_key):
    """Sent by the API; resent by the API; the first send's soft bounce arrives (a hard one would
    suppress the address); resent by a support agent in the admin; the third send is delivered and
    opened."""
    captured = django_capture_on_commit_callbacks
    agent = StaffUserFactory(
        username="agent-ana", permissions=("invitations.view_invitation", "invitations.resend_invitation")
    )
    admin = Client()
    admin.force_login(agent)
    with time_machine.travel(T0, tick=False) as clock:
        invitation = send_invitation(api, postmark, run_worker, captured, "pm-1")
        first = metadata(invitation, 1)
        clock.shift(timedelta(minutes=3))
        resend(api, postmark, run_worker, captured, invitation, "pm-2")
        # The first message bounces late; the same report delivered twice is kept once.
        assert post_webhook(client, bounce("pm-1", first, kind="SoftBounce")).status_code == 200
        assert post_webhook(client, bounce("pm-1", first, kind="SoftBounce")).status_code == 200
        clock.shift(timedelta(minutes=3))
        postmark.add("POST", POSTMARK_URL, json=postmark_accepted("pm-3"))
        with captured(execute=True):
            admin.post(reverse("admin:invitations_invitation_resend", args=[invitation.pk]))
        run_worker()
        third = metadata(invitation, 3)
        assert post_webhook(client, delivery("pm-3", third, at="2026-03-02T09:06:05Z")).status_code == 200
        assert post_webhook(client, open_("pm-3", third, at="2026-03-02T09:06:30Z")).status_code == 200
    invitation.refresh_from_db()
    assert (invitation.status, invitation.delivery_attempts) == (Invitation.Status.OPENED, 3)
    return invitation


def test_the_attempts_list_every_send_in_order_with_its_events_and_who_asked_for_it(api, live_key, timeline_invitation):
    response = api.get(f"/v1/autodoc/invitations/{timeline_invitation.token}/attempts")
    assert response.status_code == 200
    attempts = response.json()["data"]
    summary = [
        (a["number"], a["status"], a["providerMessageId"], a["requestedBy"]["kind"], [e["type"] for e in a["events"]])
        for a in attempts
    ]
    assert summary == [
        (1, "accepted", "pm-1", "api_key", ["bounced"]),
        (2, "accepted", "pm-2", "api_key", []),
        (3, "accepted", "pm-3", "staff", ["delivered", "opened"]),
    ]
    # The key's visible prefix, never the secret.
    assert attempts[0]["requestedBy"]["label"] == f"api_key:{ApiKey.objects.get().prefix}"
    assert live_key not in response.content.decode()
    assert attempts[2]["requestedBy"] == {"kind": "staff", "label": "staff:agent-ana"}
    # The provider's own words for the bounce.
    assert "unable to deliver" in attempts[0]["events"][0]["description"]
    third = attempts[2]
    assert (third["queuedAt"], third["acceptedAt"]) == ("2026-03-02T09:06:00Z", "2026-03-02T09:06:00Z")
    assert (third["deliveredAt"], third["openedAt"], third["failedAt"]) == (
        "2026-03-02T09:06:05Z",
        "2026-03-02T09:06:30Z",
        None,
    )
    assert [e["at"] for e in third["events"]] == ["2026-03-02T09:06:05Z", "2026-03-02T09:06:30Z"]
    assert all(a["channel"] == "email" and a["recipient"] == "ana@example.com" and a["tries"] == 1 for a in attempts)


def test_the_history_lists_every_move_with_its_actor(api, timeline_invitation):
    response = api.get(f"/v1/autodoc/invitations/{timeline_invitation.token}/history")
    assert response.status_code == 200
    moves = [(h["fromStatus"], h["toStatus"], h["reason"], h["actor"]["kind"]) for h in response.json()["data"]]
    assert moves == [
        (None, "pending", "created", "api_key"),
        ("pending", "sent", "provider_accepted", "system"),
        ("sent", "pending", "resend", "api_key"),
        ("pending", "sent", "provider_accepted", "system"),
        ("sent", "pending", "resend", "staff"),
        ("pending", "sent", "provider_accepted", "system"),
        ("sent", "delivered", "delivered", "system"),
        ("delivered", "opened", "opened", "system"),
    ]
    first = response.json()["data"][0]
    assert first["at"] == "2026-03-02T09:00:00Z"
    assert set(first) == {"at", "fromStatus", "toStatus", "reason", "message", "actor"}


def test_another_tenant_and_the_other_mode_get_404_for_the_timeline(
    timeline_invitation, other_organization, sandbox_key
):
    from accounts.services import api_key_create
    from tests.conftest import TEST_ACTOR

    _, foreign = api_key_create(organization=other_organization, livemode=True, actor=TEST_ACTOR)
    for key in (foreign, sandbox_key):
        for part in ("attempts", "history"):
            response = client_for(key).get(f"/v1/autodoc/invitations/{timeline_invitation.token}/{part}")
            assert (response.status_code, response.json()["error"]["type"]) == (404, "not_found")


def test_the_admin_page_shows_the_timeline_newest_first_with_the_bounce_reason(timeline_invitation):
    staff = StaffUserFactory(username="viewer-vic", permissions=("invitations.view_invitation",))
    admin = Client()
    admin.force_login(staff)
    page = admin.get(reverse("admin:invitations_invitation_change", args=[timeline_invitation.pk])).content.decode()
    table = page[page.index('class="form-row field-timeline') :]
    table = table[: table.index("</table>")]
    rows = table.split("<tr>")[2:]  # after the header row
    assert "opened" in rows[0] and "2026-03-02 09:06:30 UTC" in rows[0]
    times = [row.split("</td>")[0].removeprefix("<td>") for row in rows]
    assert times == sorted(times, reverse=True) and times[-1] == "2026-03-02 09:00:00 UTC"
    assert any("created" in row for row in rows)
    bounced = next(row for row in rows if "bounced" in row)
    assert "send #1" in bounced and "unable to deliver" in bounced
    assert "staff:agent-ana" in table


def test_a_send_accepted_then_bounced_reads_accepted_at_its_acceptance_and_failed_at_the_bounce(organization):
    invitation = InvitationFactory(organization=organization, status=Invitation.Status.FAILED)
    attempt = DeliveryAttempt.objects.create(
        invitation=invitation,
        number=1,
        channel="email",
        recipient=invitation.recipient,
        livemode=True,
        status=DeliveryAttempt.Status.FAILED,
        provider_message_id="pm-9",
        accepted_at=T0,
        failed_at=T0 + timedelta(minutes=1),
        error_message="Email bounced: no such mailbox",
    )
    rows = {(when, event) for when, _what, event, _details, _by in attempt_timeline_rows(invitation_id=invitation.pk)}
    assert (attempt.accepted_at, "accepted") in rows
    assert (attempt.failed_at, "failed") in rows
