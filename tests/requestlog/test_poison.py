"""No input poisons the request log for everyone: a NUL in a path is stored as U+FFFD; an entry
PostgreSQL still refuses moves to the dead-letter stream with its reason, counted in /metrics, and
the rest go on; the prune runs even when the move fails."""

import json
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from redis.exceptions import RedisError

from jobs.queueing import redis_for
from requestlog import store
from requestlog.jobs import sweep_request_log
from requestlog.models import RequestLogEntry
from tests.helpers import T0

pytestmark = pytest.mark.django_db


def metric(client, settings, name: str) -> float:
    settings.METRICS_TOKEN = "m" * 40
    text = client.get("/metrics", HTTP_AUTHORIZATION="Bearer " + "m" * 40).content.decode()
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " "))


def test_a_nul_in_a_sandbox_keys_path_is_a_404_and_the_log_goes_on_for_every_tenant(sandbox_api, api):
    assert sandbox_api.get("/v1/autodoc/invitations/x%00").status_code == 404
    assert api.get("/v1/autodoc/invitations").status_code == 200
    listed = sandbox_api.get("/v1/requests")
    assert listed.status_code == 200, listed.content
    assert [entry["path"] for entry in listed.json()["data"]] == ["/v1/autodoc/invitations/x\ufffd"]
    assert api.get("/v1/requests").status_code == 200
    store.request_log_flush()
    assert redis_for("default").xlen(store.STREAM_KEY) == 0  # nothing stuck in the stream


def test_an_entry_postgresql_refuses_goes_to_the_dead_letter_stream_and_the_others_are_stored(
    api, organization, client, settings
):
    before = metric(client, settings, "invitations_request_log_dead_letters_total")
    redis = redis_for("default")
    good = {
        "public_id": "req_good",
        "organization_id": organization.pk,
        "livemode": True,
        "created_at": timezone.now().isoformat(),
        "method": "GET",
        "path": "/v1/autodoc/invitations",
        "status": 200,
        "error_type": "",
        "duration_ms": 3,
        "user_agent": "",
        "ip": "127.0.0.1",
        "credential_kind": "api_key",
        "credential_label": "private_x",
        "idempotency_key": "",
        "invitation_token": "",
    }
    # As a process written before NUL was made storable would have left it in the stream.
    redis.xadd(store.STREAM_KEY, {"e": json.dumps({**good, "public_id": "req_poison", "path": "/v1/x\x00"})})
    redis.xadd(store.STREAM_KEY, {"e": json.dumps(good)})
    redis.xadd(store.STREAM_KEY, {"e": b"not json"})

    assert store.request_log_flush() == 2
    assert list(RequestLogEntry.objects.values_list("public_id", flat=True)) == ["req_good"]
    assert redis.xlen(store.STREAM_KEY) == 0
    dead = redis.xrange(store.DEAD_LETTER_KEY)
    reasons = sorted(values[b"reason"].decode() for _, values in dead)
    assert reasons == ["refused: DataError", "unreadable: JSONDecodeError"]
    assert metric(client, settings, "invitations_request_log_dead_letters_total") == before + 2
    assert api.get("/v1/requests").status_code == 200
    redis.delete(store.DEAD_LETTER_KEY)


def test_the_prune_runs_even_when_the_move_to_postgresql_fails(api, settings, own_redis):
    with time_machine.travel(T0, tick=True) as clock:
        api.get("/v1/autodoc/invitations")
        assert sweep_request_log()["moved"] == 1
        clock.shift(timedelta(days=settings.REQUEST_LOG_RETENTION_DAYS, seconds=1))
        own_redis.stop()  # the stream cannot be read: the move fails
        with pytest.raises(RedisError):
            sweep_request_log()
    assert RequestLogEntry.objects.count() == 0
