"""The webhooks API: endpoints and events of one organization and mode only, the address guard,
redelivery and recovery with the same webhook-id."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from accounts.models import AccountEvent
from accounts.principals import Actor
from invitations.services import invitation_resend
from tests.conftest import TEST_ACTOR, client_for, token_pair_for
from tests.factories import InvitationFactory
from tests.helpers import T0
from webhooks.dispatch import webhook_deliveries_dispatch
from webhooks.models import Event, WebhookDelivery

pytestmark = pytest.mark.django_db

ENDPOINTS = "/v1/webhooks/endpoints"


def resend(invitation):
    invitation_resend(invitation=invitation, actor=Actor.system("test"))


def sent(organization, **kwargs):
    return InvitationFactory(organization=organization, sent_at=timezone.now() - timedelta(minutes=5), **kwargs)


def test_an_endpoint_is_created_with_its_secret_shown_once(api, receiver):
    created = api.post(ENDPOINTS, {"url": receiver.url(), "events": ["invitation.sent"]}, format="json")
    assert created.status_code == 201
    body = created.json()
    assert body["id"].startswith("we_") and body["secret"].startswith("whsec_")
    assert body["events"] == ["invitation.sent"] and body["enabled"] is True
    fetched = api.get(f"{ENDPOINTS}/{body['id']}").json()
    assert "secret" not in fetched
    assert body["secret"] not in str(api.get(ENDPOINTS).json())
    rotated = api.post(f"{ENDPOINTS}/{body['id']}/rotate-secret").json()["secret"]
    assert rotated.startswith("whsec_") and rotated != body["secret"]


def test_endpoints_can_be_changed_and_deleted(api, receiver):
    endpoint = api.post(ENDPOINTS, {"url": receiver.url()}, format="json").json()
    changed = api.patch(
        f"{ENDPOINTS}/{endpoint['id']}", {"enabled": False, "description": "CRM", "events": ["*"]}, format="json"
    )
    assert changed.status_code == 200
    assert (changed.json()["enabled"], changed.json()["description"]) == (False, "CRM")
    assert api.patch(f"{ENDPOINTS}/{endpoint['id']}", {"events": ["invitation.nope"]}, format="json").status_code == 422
    assert api.patch(f"{ENDPOINTS}/{endpoint['id']}", {"enabled": "yes"}, format="json").status_code == 400
    assert api.delete(f"{ENDPOINTS}/{endpoint['id']}").status_code == 204
    assert api.get(f"{ENDPOINTS}/{endpoint['id']}").status_code == 404
    # The deletion is in the organization's account events: who, which endpoint, its host only.
    audit = AccountEvent.objects.get(action=AccountEvent.Action.WEBHOOK_ENDPOINT_DELETED)
    assert (audit.target, audit.detail) == (endpoint["id"], "live endpoint at 127.0.0.1")
    assert audit.actor_kind == "api_key"


def test_a_viewer_reads_but_cannot_change(make_member, organization, api, receiver):
    endpoint = api.post(ENDPOINTS, {"url": receiver.url()}, format="json").json()
    viewer = client_for(token_pair_for(make_member("viewer"), organization)["accessToken"])
    assert viewer.get(ENDPOINTS).status_code == 200
    assert viewer.post(ENDPOINTS, {"url": receiver.url()}, format="json").status_code == 403
    assert viewer.post(f"{ENDPOINTS}/{endpoint['id']}/rotate-secret").status_code == 403
    assert viewer.delete(f"{ENDPOINTS}/{endpoint['id']}").status_code == 403


def test_other_tenants_and_the_other_mode_neither_see_nor_receive(
    api, sandbox_api, organization, other_organization, receiver, django_capture_on_commit_callbacks
):
    mine = api.post(ENDPOINTS, {"url": receiver.url("/live")}, format="json").json()
    sandbox = sandbox_api.post(ENDPOINTS, {"url": receiver.url("/sandbox")}, format="json").json()
    from accounts.services import api_key_create

    other_api = client_for(api_key_create(organization=other_organization, livemode=True, actor=TEST_ACTOR)[1])
    other = other_api.post(ENDPOINTS, {"url": receiver.url("/other")}, format="json").json()
    with django_capture_on_commit_callbacks(execute=True):
        resend(sent(organization))
    webhook_deliveries_dispatch()
    assert [message.path for message in receiver.received] == ["/live"]
    event_id = receiver.received[0].json["id"]
    for client, visible in ((api, True), (sandbox_api, False), (other_api, False)):
        assert (client.get(f"/v1/events/{event_id}").status_code == 200) is visible
        assert (len(client.get("/v1/events").json()["data"]) == 1) is visible
    for client, endpoint in ((other_api, mine), (sandbox_api, mine), (api, sandbox), (api, other)):
        assert client.get(f"{ENDPOINTS}/{endpoint['id']}").status_code == 404
        assert client.post(f"{ENDPOINTS}/{endpoint['id']}/test").status_code == 404
    assert other_api.post(f"/v1/events/{event_id}/redeliver").status_code == 404


def test_the_event_log_filters_by_type_invitation_and_date(api, organization, receiver):
    with time_machine.travel(T0, tick=False):
        first, second = sent(organization), sent(organization)
        resend(first)
    with time_machine.travel(T0 + timedelta(days=1), tick=False):
        resend(second)
    events = api.get("/v1/events").json()
    assert [e["data"]["invitation"]["token"] for e in events["data"]] == [second.token, first.token]
    assert events["pagination"]["total"] == 2
    assert len(api.get("/v1/events", {"invitation": first.token}).json()["data"]) == 1
    assert len(api.get("/v1/events", {"invitation": first.token.removeprefix("adi_")}).json()["data"]) == 1
    assert len(api.get("/v1/events", {"type": "invitation.resent"}).json()["data"]) == 2
    assert api.get("/v1/events", {"type": "invitation.sent"}).json()["data"] == []
    day_two = api.get("/v1/events", {"date_from": (T0 + timedelta(hours=12)).isoformat()}).json()["data"]
    assert [e["data"]["invitation"]["token"] for e in day_two] == [second.token]
    assert api.get("/v1/events?type=a&type=b").status_code == 400


def test_redeliver_and_recover_send_again_with_the_same_webhook_id(
    api, organization, receiver, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_RETRY_INTERVALS = []
    endpoint = api.post(ENDPOINTS, {"url": receiver.url()}, format="json").json()
    with django_capture_on_commit_callbacks(execute=True):
        resend(sent(organization))
    webhook_deliveries_dispatch()
    event_id = receiver.received[0].json["id"]
    with django_capture_on_commit_callbacks(execute=True):
        assert api.post(f"/v1/events/{event_id}/redeliver").json() == {"queued": 1}
    webhook_deliveries_dispatch()
    # A receiver answering 500 makes the delivery fail for good (no retries configured here).
    receiver.answers = [(500, 0)]
    with django_capture_on_commit_callbacks(execute=True):
        api.post(f"/v1/events/{event_id}/redeliver", {"endpoint": endpoint["id"]}, format="json")
    webhook_deliveries_dispatch()
    assert WebhookDelivery.objects.get().status == WebhookDelivery.Status.FAILED
    since = (timezone.now() - timedelta(hours=1)).isoformat()
    with django_capture_on_commit_callbacks(execute=True):
        assert api.post(f"{ENDPOINTS}/{endpoint['id']}/recover", {"since": since}, format="json").json() == {
            "queued": 1
        }
    webhook_deliveries_dispatch()
    assert [message.headers["webhook-id"] for message in receiver.received] == [event_id] * 4
    assert WebhookDelivery.objects.get().status == WebhookDelivery.Status.SUCCEEDED


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/hooks",
        "https://127.0.0.1/hooks",
        "https://10.0.0.1/hooks",
        "https://[::1]/hooks",
        "https://[::ffff:127.0.0.1]/hooks",
        "https://169.254.169.254/latest/meta-data",
        "https://100.64.0.1/hooks",
        "https://224.0.0.1/hooks",
        "https://localhost/hooks",
        "https://user:pass@example.com/hooks",
    ],
)
def test_the_address_guard_refuses_what_is_not_a_public_https_address(api, settings, url):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    response = api.post(ENDPOINTS, {"url": url}, format="json")
    assert response.status_code == 422, response.json()
    assert response.json()["error"]["type"] == "validation_error"
    assert "url" in response.json()["error"]["fields"]


def test_the_guard_is_applied_again_at_each_try(api, organization, receiver, settings):
    endpoint = api.post(ENDPOINTS, {"url": receiver.url()}, format="json").json()
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False  # checked again at each try, after resolving
    resend(sent(organization))
    webhook_deliveries_dispatch()
    attempt = api.get(f"{ENDPOINTS}/{endpoint['id']}/deliveries").json()["data"][0]
    assert attempt["error"] == "The URL must start with https://."
    assert attempt["responseStatus"] is None
    assert receiver.received == []


def test_a_redirect_is_never_followed(api, organization, receiver):
    endpoint = api.post(ENDPOINTS, {"url": receiver.url()}, format="json").json()
    receiver.answers = [(302, 0)]
    resend(sent(organization))
    webhook_deliveries_dispatch()
    attempt = api.get(f"{ENDPOINTS}/{endpoint['id']}/deliveries").json()["data"][0]
    assert (attempt["responseStatus"], attempt["status"]) == (302, "retrying")
    assert attempt["error"] == "redirects are not followed"
    assert len(receiver.received) == 1  # nothing went to the Location it named


def test_events_older_than_the_retention_are_forgotten(organization):
    from webhooks.services import webhook_outbox_sweep

    with time_machine.travel(T0, tick=False):
        resend(sent(organization))
    with time_machine.travel(T0 + timedelta(days=31), tick=False):
        assert webhook_outbox_sweep()["deleted"] >= 1
    assert not Event.objects.exists()


def test_an_endpoint_failing_every_try_for_five_days_is_disabled(api, organization, receiver, settings):
    from webhooks.models import Endpoint

    settings.WEBHOOK_RETRY_INTERVALS = []
    endpoint = api.post(ENDPOINTS, {"url": receiver.url()}, format="json").json()
    with time_machine.travel(T0, tick=False):
        receiver.answers = [(500, 0)]
        resend(sent(organization))
        webhook_deliveries_dispatch()
    with time_machine.travel(T0 + timedelta(days=5, seconds=1), tick=False):
        receiver.answers = [(500, 0)]
        resend(sent(organization))
        webhook_deliveries_dispatch()
    row = Endpoint.objects.get(public_id=endpoint["id"])
    assert (row.enabled, row.disabled_reason) == (False, "Every delivery failed for 5 days.")
    assert api.get(f"{ENDPOINTS}/{endpoint['id']}").json()["disabledReason"] == "Every delivery failed for 5 days."
    # Enabled again by hand, it is told of new events once more.
    api.patch(f"{ENDPOINTS}/{endpoint['id']}", {"enabled": True}, format="json")
    resend(sent(organization))
    webhook_deliveries_dispatch()
    assert receiver.received[-1].json["type"] == "invitation.resent"
    assert Endpoint.objects.get(public_id=endpoint["id"]).failing_since is None


def test_the_admin_shows_an_invitations_events_redelivers_and_rotates_a_secret_once(
    client, admin_user, api, organization, receiver
):
    from webhooks.models import Endpoint, EndpointSecret

    created = api.post(ENDPOINTS, {"url": receiver.url()}, format="json").json()
    invitation = sent(organization)
    resend(invitation)
    webhook_deliveries_dispatch()
    client.force_login(admin_user)
    page = client.get(f"/admin/invitations/invitation/{invitation.pk}/change/").content.decode()
    event = Event.objects.get()
    assert event.public_id in page and "invitation.resent" in page and "succeeded (1 tries)" in page
    assert (
        created["secret"]
        not in client.get(f"/admin/webhooks/endpoint/{Endpoint.objects.get().pk}/change/").content.decode()
    )
    client.post("/admin/webhooks/endpoint/", {"action": "disable", "_selected_action": [Endpoint.objects.get().pk]})
    assert api.get(f"{ENDPOINTS}/{created['id']}").json()["disabledReason"] == "Disabled in the admin."
    client.post("/admin/webhooks/endpoint/", {"action": "enable", "_selected_action": [Endpoint.objects.get().pk]})
    assert api.get(f"{ENDPOINTS}/{created['id']}").json()["enabled"] is True
    client.post("/admin/webhooks/event/", {"action": "redeliver", "_selected_action": [event.pk]})
    assert WebhookDelivery.objects.get().status == WebhookDelivery.Status.PENDING
    rotated = client.post(
        "/admin/webhooks/endpoint/", {"action": "rotate_secret", "_selected_action": [Endpoint.objects.get().pk]}
    )
    new_secret = EndpointSecret.objects.filter(expires_at__isnull=True).get().secret
    assert new_secret in rotated.content.decode()
    assert "no-store" in rotated["Cache-Control"]
