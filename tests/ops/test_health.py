"""Probes and the operator's outbox check, against the real PostgreSQL and a Redis the test stops."""

import io
import json
from datetime import timedelta

import django_rq
import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from rq import SimpleWorker

from accounts.principals import Actor
from delivery.services import delivery_attempts_requeue_stale
from invitations.services import invitation_resend
from tests.factories import InvitationFactory
from tests.helpers import T0

pytestmark = pytest.mark.django_db(transaction=True)


def test_readyz_names_redis_while_it_is_down_and_healthz_stays_up(own_redis, settings):
    client = Client()
    assert client.get("/readyz").json() == {"status": "ok", "checks": {"postgresql": "ok", "redis": "ok"}}
    own_redis.stop()
    down = client.get("/readyz")
    assert down.status_code == 503
    assert down.json()["checks"]["redis"].startswith("unreachable")
    assert down.json()["checks"]["postgresql"] == "ok"
    assert client.get("/healthz").status_code == 200
    own_redis.start()
    assert client.get("/readyz").status_code == 200


def test_the_probes_need_no_credentials_and_no_https(settings):
    settings.SECURE_SSL_REDIRECT = True
    assert Client().get("/healthz").status_code == 200
    assert Client().get("/readyz").status_code == 200


def test_outbox_status_fails_while_an_attempt_waits_with_redis_down_and_passes_once_swept(
    organization,
    own_redis,
    settings,
):
    settings.DELIVERY_SWEEP_GRACE_SECONDS = 60
    with time_machine.travel(T0, tick=False) as clock:
        invitation = InvitationFactory(organization=organization, sent_at=T0 - timedelta(minutes=5))
        own_redis.stop()
        invitation_resend(invitation=invitation, actor=Actor.system("test"))  # commits; the enqueue fails
        clock.shift(601)
        with pytest.raises(CommandError, match="1 delivery attempt"):
            call_command("outbox_status", stdout=io.StringIO())
        own_redis.start()
        assert delivery_attempts_requeue_stale().enqueued == 1
        queue = django_rq.get_queue("delivery", commit_mode="auto")  # on the test's own Redis
        SimpleWorker([queue], connection=queue.connection).work(burst=True)
        out = io.StringIO()
        call_command("outbox_status", "--json", stdout=out)
    figures = json.loads(out.getvalue())
    assert figures["attempts_stuck"] == 0 and figures["attempts"] == {"accepted": 1}
    assert set(figures["rq"]["queues"]) == {"delivery", "delivery-sandbox", "webhooks", "default"}


@pytest.mark.django_db
def test_with_debug_off_and_no_metrics_token_metrics_is_not_found(client, settings):
    settings.DEBUG, settings.METRICS_TOKEN = False, ""
    response = client.get("/metrics")
    assert response.status_code == 404
    assert b"invitations_" not in response.content


@pytest.mark.django_db
def test_with_a_metrics_token_only_its_bearer_gets_the_figures(client, settings):
    settings.DEBUG, settings.METRICS_TOKEN = False, "m" * 40
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer " + "m" * 40).status_code == 200
