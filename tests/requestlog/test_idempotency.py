"""Idempotency-Key on every POST under /v1: one store, replays marked, a reused key refused, a key in
use refused, errors not stored, 24 hours, per organization and mode."""

from datetime import timedelta

import pytest
import time_machine
from django.urls import URLPattern, URLResolver, get_resolver

from api.models import IdempotentRequest
from api.views import ApiView
from delivery.models import DeliveryAttempt
from invitations.models import Invitation
from requestlog.jobs import sweep_request_log
from tests.conftest import at_once, client_for
from tests.helpers import T0
from tests.helpers import sent_invitation as sent
from webhooks.models import Endpoint


def resend(api, invitation, key, **extra):
    return api.post(f"/v1/autodoc/invitations/{invitation.token}/resend", HTTP_IDEMPOTENCY_KEY=key, **extra)


@pytest.mark.django_db
def test_a_resend_retried_with_its_key_answers_the_same_200_marked_replayed_and_leaves_one_attempt(
    api, organization, django_capture_on_commit_callbacks
):
    invitation = sent(organization)
    with time_machine.travel(T0, tick=False), django_capture_on_commit_callbacks(execute=True):
        first = resend(api, invitation, "retry-1")
        again = resend(api, invitation, "retry-1")
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    invitation.refresh_from_db()
    assert (invitation.status, invitation.delivery_attempts) == (Invitation.Status.PENDING, 2)
    assert DeliveryAttempt.objects.filter(invitation=invitation).count() == 1


@pytest.mark.django_db
def test_the_key_with_another_body_or_path_is_a_422_and_does_nothing(api, organization):
    invitation, other = sent(organization), sent(organization)
    body = {"channel": "email", "recipient": "ana@example.com"}
    with time_machine.travel(T0, tick=False):
        assert api.post("/v1/autodoc/invitations", body, format="json", HTTP_IDEMPOTENCY_KEY="k").status_code == 201
        changed = api.post(
            "/v1/autodoc/invitations", {**body, "reference": "x"}, format="json", HTTP_IDEMPOTENCY_KEY="k"
        )
        elsewhere = resend(api, invitation, "k")
        assert resend(api, other, "k2").status_code == 200
        other_path = resend(api, invitation, "k2")
    for response in (changed, elsewhere, other_path):
        assert response.status_code == 422
        assert response.json()["error"]["type"] == "idempotency_key_reused"
    assert Invitation.objects.filter(reference="x").count() == 0
    invitation.refresh_from_db()
    assert (invitation.status, invitation.delivery_attempts) == (Invitation.Status.SENT, 1)


@pytest.mark.django_db
def test_an_error_answer_is_not_stored_so_the_same_key_runs_once_the_rule_allows_it(api, organization):
    invitation = sent(organization, sent_at=T0 - timedelta(minutes=1))
    with time_machine.travel(T0, tick=False) as clock:
        cooling = resend(api, invitation, "after-cooldown")
        assert cooling.status_code == 429
        assert not IdempotentRequest.objects.exists()
        clock.shift(timedelta(minutes=2))
        later = resend(api, invitation, "after-cooldown")
    assert later.status_code == 200
    assert "Idempotent-Replayed" not in later
    assert IdempotentRequest.objects.get().response_status == 200


@pytest.mark.django_db
def test_a_key_is_kept_24_hours_then_runs_anew_and_the_sweep_forgets_it(api, organization):
    body = {"channel": "email", "recipient": "ana@example.com"}
    with time_machine.travel(T0, tick=False) as clock:
        first = api.post("/v1/autodoc/invitations", body, format="json", HTTP_IDEMPOTENCY_KEY="day")
        clock.shift(timedelta(hours=23, minutes=59))
        replay = api.post("/v1/autodoc/invitations", body, format="json", HTTP_IDEMPOTENCY_KEY="day")
        clock.shift(timedelta(minutes=2))
        fresh = api.post("/v1/autodoc/invitations", body, format="json", HTTP_IDEMPOTENCY_KEY="day")
        assert replay.json()["token"] == first.json()["token"]
        assert fresh.status_code == 201 and fresh.json()["token"] != first.json()["token"]
        assert "Idempotent-Replayed" not in fresh
        api.post("/v1/autodoc/invitations", body, format="json", HTTP_IDEMPOTENCY_KEY="other")
        clock.shift(timedelta(hours=24, seconds=1))
        assert sweep_request_log()["idempotency_keys_deleted"] == 2
    assert not IdempotentRequest.objects.exists()


@pytest.mark.django_db
def test_keys_are_per_organization_and_mode(api, sandbox_api, organization, other_organization):
    from accounts.services import api_key_create
    from tests.conftest import TEST_ACTOR

    foreign = client_for(api_key_create(organization=other_organization, livemode=True, actor=TEST_ACTOR)[1])
    body = {"channel": "email", "recipient": "ana@example.com"}
    tokens = {
        client.post("/v1/autodoc/invitations", body, format="json", HTTP_IDEMPOTENCY_KEY="same").json()["token"]
        for client in (api, sandbox_api, foreign)
    }
    assert len(tokens) == 3


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", "k" * 256, "clé", "tab\there"])
def test_a_key_that_is_not_1_to_255_printable_ascii_characters_is_a_422(api, key):
    body = {"channel": "email", "recipient": "ana@example.com"}
    response = api.post("/v1/autodoc/invitations", body, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == {"Idempotency-Key": ["Use 1 to 255 printable ASCII characters."]}
    assert not Invitation.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_ten_concurrent_resends_with_one_key_have_exactly_one_effect(organization, live_key, delivery_queue):
    invitation = sent(organization)

    def call():
        with time_machine.travel(T0, tick=False):
            response = resend(client_for(live_key), invitation, "once")
        body = response.json()
        return response.status_code, response.get("Idempotent-Replayed"), body.get("status") or body["error"]["type"]

    answers = at_once(10, call)
    assert len(answers) == 10
    assert [answer for answer in answers if answer == (200, None, "pending")] == [(200, None, "pending")]
    assert set(answers) <= {(200, None, "pending"), (200, "true", "pending"), (409, None, "idempotency_key_in_use")}
    invitation.refresh_from_db()
    assert invitation.delivery_attempts == 2
    assert DeliveryAttempt.objects.filter(invitation=invitation).count() == 1
    assert delivery_queue.count == 1


@pytest.mark.django_db
def test_other_posts_replay_too_and_a_secret_is_neither_kept_nor_shown_again(api, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    body = {"url": "http://127.0.0.1:9/in"}
    first = api.post("/v1/webhooks/endpoints", body, format="json", HTTP_IDEMPOTENCY_KEY="ep")
    again = api.post("/v1/webhooks/endpoints", body, format="json", HTTP_IDEMPOTENCY_KEY="ep")
    assert first.status_code == again.status_code == 201, first.content
    assert again["Idempotent-Replayed"] == "true"
    assert Endpoint.objects.count() == 1
    secret = first.json().pop("secret")
    assert secret.startswith("whsec_")
    assert again.json() == first.json()
    assert secret not in str(list(IdempotentRequest.objects.values_list("response_body", flat=True)))


def _views(resolver: URLResolver, prefix: str = ""):
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            yield from _views(pattern, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), getattr(pattern.callback, "view_class", None)


def test_every_view_that_takes_a_post_under_v1_applies_the_idempotency_key():
    posting = [
        (route, view)
        for route, view in _views(get_resolver())
        if route.startswith("v1/") and view is not None and hasattr(view, "post")
    ]
    assert len(posting) >= 10
    assert [route for route, view in posting if not issubclass(view, ApiView)] == []


@pytest.mark.django_db
def test_a_bodyless_post_with_a_form_content_type_works_with_a_key_as_without(organization, live_key):
    # What `curl -X POST -d ''` sends: a form Content-Type and no body.
    invitation = sent(organization)
    client = client_for(live_key)
    with time_machine.travel(T0, tick=False):
        response = client.generic(
            "POST",
            f"/v1/autodoc/invitations/{invitation.token}/resend",
            "",
            content_type="application/x-www-form-urlencoded",
            HTTP_IDEMPOTENCY_KEY="curl-1",
        )
    assert response.status_code == 200, response.content
