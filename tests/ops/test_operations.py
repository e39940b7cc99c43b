"""Run as in production: gunicorn with two workers and an rq worker on the test database, JSON logs,
/metrics summed over every process and behind its token, and no secret or address in any log."""

import json
import subprocess
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bench import harness
from tests.conftest import TEST_ACTOR
from tests.faults.support import Children, service_environment, start_gunicorn

pytestmark = pytest.mark.django_db(transaction=True)

N = 12
METRICS_TOKEN = "scrape-token-Vn4Qe8Lw2Zr6Tx1Yb9Hm5Kc3"


@pytest.fixture
def children():
    started = Children()
    yield started
    started.stop_all()


def call(port: int, method: str, path: str, *, key: str | None = None, body: dict | None = None, token=None):
    headers = {"Content-Type": "application/json", "Connection": "close"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def run_worker(env: dict, log) -> None:
    args = [harness.PYTHON, "manage.py", "rqworker", "delivery", "--burst"]
    subprocess.run(
        args, cwd=harness.PROJECT_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=120, check=True
    )


def samples(text: str) -> dict[tuple[str, tuple], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def json_lines(path) -> list[dict]:
    lines = []
    for line in path.read_text().splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


@pytest.fixture
def service(children, tmp_path, organization):
    from accounts.services import api_key_create

    key = api_key_create(organization=organization, livemode=True, name="ops", actor=TEST_ACTOR)[1]
    env = service_environment(
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
        METRICS_TOKEN=METRICS_TOKEN,
        LOG_FORMAT="json",
        LOG_LEVEL="INFO",
        INVITATION_RESEND_COOLDOWN_SECONDS="0",
        SECURE_SSL_REDIRECT="0",
        # The console backend would print each message: that is the message, not a log line.
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
    )
    (tmp_path / "metrics").mkdir()
    web_log = tmp_path / "web.log"
    port = start_gunicorn(children, env=env, log=web_log, workers=2)
    return {"port": port, "env": env, "key": key, "web_log": web_log, "worker_log": tmp_path / "worker.log"}


def test_metrics_sum_every_process_and_logs_carry_the_request_id_without_secrets(service, tmp_path, organization):
    port, key, env = service["port"], service["key"], service["env"]
    create = {"channel": "email", "recipient": "ana@example.com"}
    with ThreadPoolExecutor(max_workers=6) as pool:
        created = list(
            pool.map(lambda _: call(port, "POST", "/v1/autodoc/invitations", key=key, body=create), range(N))
        )
    assert [status for status, _, _ in created] == [201] * N
    tokens = [json.loads(body)["token"] for _, _, body in created]
    # A resend while the first send is still pending is refused (409): nothing counted as resent.
    refused_status, refused_headers, _ = call(port, "POST", f"/v1/autodoc/invitations/{tokens[0]}/resend", key=key)
    assert refused_status == 409
    with open(service["worker_log"], "ab") as log:
        run_worker(env, log)
    with ThreadPoolExecutor(max_workers=6) as pool:
        resent = list(pool.map(lambda t: call(port, "POST", f"/v1/autodoc/invitations/{t}/resend", key=key), tokens))
    assert [status for status, _, _ in resent] == [200] * N
    with open(service["worker_log"], "ab") as log:
        run_worker(env, log)

    assert call(port, "GET", "/metrics")[0] == 401
    assert call(port, "GET", "/metrics", token="wrong-token")[0] == 401
    status, _, text = call(port, "GET", "/metrics", token=METRICS_TOKEN)
    assert status == 200
    found = samples(text)

    def value(name, **labels):
        return found.get((name, tuple(sorted(labels.items()))), 0)

    assert value("invitations_deliveries_total", channel="email", outcome="accepted") == 2 * N
    assert value("invitations_resends_total", outcome="resent") == N
    assert value("invitations_resends_total", outcome="wrong_status") == 1
    assert value("invitations_http_requests_total", view="invitation-list", method="POST", status="201") == N
    assert value("invitations_http_requests_total", view="invitation-resend", method="POST", status="200") == N
    assert value("invitations_http_request_duration_seconds_count", view="invitation-resend", method="POST") == N + 1
    assert value("invitations_outbox_oldest_queued_seconds") == 0
    assert value("invitations_queue_depth", queue="delivery") == 0
    # Summed over processes: the web requests were answered by both gunicorn workers, the
    # deliveries counted by the rq worker's processes.
    pids = {path.name.rsplit("_", 1)[1] for path in (tmp_path / "metrics").glob("counter_*.db")}
    assert len(pids) >= 4

    web_lines, worker_lines = json_lines(service["web_log"]), json_lines(service["worker_log"])
    first_id = created[0][1]["Request-Id"]
    access = [line for line in web_lines if line.get("logger") == "gunicorn.access"]
    assert any(line["request_id"] == first_id and line["status"] == 201 for line in access)
    refused_id = refused_headers["Request-Id"]
    app = [line for line in web_lines if line.get("request_id") == refused_id and line["logger"] == "django.request"]
    assert [(line["level"], line["organization"]) for line in app] == [("WARNING", organization.slug)]
    assert app[0]["credential"].startswith("api_key:private_") and app[0]["credential"] not in key
    sent = [line for line in worker_lines if line.get("logger") == "delivery.services.sending"]
    assert len(sent) == 2 * N
    assert {line["request_id"] for line in sent} == {h["Request-Id"] for _, h, _ in created + resent}
    assert all(isinstance(line["attempt_id"], int) for line in sent)

    everything = service["web_log"].read_text() + service["worker_log"].read_text()
    # The key's random part whole: it may itself hold "_", so no split of it is a secret.
    for secret in (key, METRICS_TOKEN, key.removeprefix("private_")):
        assert secret not in everything
    assert "ana@example.com" not in everything
