"""Webhook fan-out: N events over 10 organizations' endpoints on a local receiver that answers each
call after 50 ms, delivered by real rq workers over the `webhooks` queue; then the same again with
one more endpoint that never answers (every try runs into WEBHOOK_TIMEOUT_SECONDS).

    .venv/bin/python bench/webhook_fanout.py --events 10000 --workers 2

Prints, for each phase, the wall time until every event reached the answering endpoints, the rate,
what arrived twice or not at all, and the workers' count and peak memory (VmHWM, summed).
"""

import argparse
import os
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness

ORGANIZATIONS = 10


class Receiver:
    """A threaded HTTP server on 127.0.0.1: answers 200 after ``delay`` seconds, or never."""

    def __init__(self, delay: float | None):
        self.delay = delay
        self.ids: Counter[str] = Counter()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if receiver.delay is None:
                    time.sleep(3600)  # never answers; the sender's timeout cuts it
                    return
                time.sleep(receiver.delay)
                with receiver.lock:
                    receiver.ids[self.headers["webhook-id"]] += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.request_queue_size = 256
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"


def seed(*, events: int, answering: Receiver, hanging: Receiver | None, tag: str) -> tuple[list[int], set[str]]:
    """Organizations with their endpoints, and the events, written as the service writes them."""
    from django.db import transaction

    from accounts.principals import Actor
    from accounts.services import organization_create
    from webhooks.events import NewEvent, webhook_events_emit
    from webhooks.services import webhook_endpoint_create

    actor = Actor.for_command("bench")
    orgs = [organization_create(slug=f"bench-hooks-{tag}-{n}", actor=actor) for n in range(ORGANIZATIONS)]
    endpoints = [webhook_endpoint_create(organization=org, livemode=True, url=answering.url)[0] for org in orgs]
    if hanging is not None:
        # The silent endpoint shares the first organization: it gets every tenth event.
        webhook_endpoint_create(organization=orgs[0], livemode=True, url=hanging.url)
    ids: set[str] = set()
    batch = 500
    for start in range(0, events, batch):
        with transaction.atomic():
            ids.update(
                webhook_events_emit(
                    events=[
                        NewEvent(
                            organization_id=orgs[i % ORGANIZATIONS].pk,
                            livemode=True,
                            type="invitation.sent",
                            subject=f"adi_bench{i}",
                            data={"invitation": {"token": f"adi_bench{i}", "status": "sent"}},
                        )
                        for i in range(start, min(events, start + batch))
                    ]
                )
            )
    return [endpoint.pk for endpoint in endpoints], ids


def peak_memory_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_phase(*, events: int, workers: int, with_hanging: bool, env: dict, logs: Path, tag: str) -> dict:
    import django_rq

    from webhooks.dispatch import DISPATCH_JOB
    from webhooks.models import WebhookDelivery

    answering = Receiver(0.05)
    hanging = Receiver(None) if with_hanging else None
    endpoint_ids, event_ids = seed(events=events, answering=answering, hanging=hanging, tag=tag)
    queue = django_rq.get_queue("webhooks")
    for _ in range(workers):  # one dispatcher per worker; each claims its own rows
        queue.enqueue(DISPATCH_JOB)
    children = harness.Children()
    started = time.monotonic()
    processes = [
        children.start(
            [harness.PYTHON, "manage.py", "rqworker", "delivery", "webhooks", "default", "--with-scheduler"],
            env=env,
            log=logs / f"worker-{tag}-{n}.log",
        )
        for n in range(workers)
    ]
    # A try that failed (a receiver too slow under load) is retried on the schedule by the workers'
    # scheduler; what has not arrived by the deadline is reported lost.
    deadline = started + 600
    peak = {}
    try:
        while time.monotonic() < deadline:
            for process in processes:
                peak[process.pid] = max(peak.get(process.pid, 0), peak_memory_kib(process.pid))
            done = WebhookDelivery.objects.filter(
                endpoint_id__in=endpoint_ids, status=WebhookDelivery.Status.SUCCEEDED
            ).count()
            if done >= events:
                break
            time.sleep(0.2)
        elapsed = time.monotonic() - started
    finally:
        children.stop_all()
    received = answering.ids
    return {
        "events": events,
        "seconds": round(elapsed, 1),
        "per_second": round(events / elapsed, 1),
        "delivered": sum(1 for event_id in event_ids if received[event_id] >= 1),
        "lost": sum(1 for event_id in event_ids if received[event_id] == 0),
        "sent_twice": sum(1 for count in received.values() if count > 1),
        "workers": workers,
        "workers_peak_memory_mib": round(sum(peak.values()) / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=int, default=10, help="WEBHOOK_TIMEOUT_SECONDS of the run")
    parser.add_argument("--database-url", default=harness.DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default=harness.DEFAULT_REDIS_URL)
    args = parser.parse_args()
    env = harness.bench_environment(
        args.database_url,
        args.redis_url,
        WEBHOOK_ALLOW_PRIVATE_URLS="1",
        WEBHOOK_TIMEOUT_SECONDS=str(args.timeout),
        SECURE_SSL_REDIRECT="0",
    )
    harness.recreate_database(args.database_url)
    try:
        harness.manage("migrate", "--noinput", "-v0", env=env)
        harness.setup_django()
        import django_rq

        django_rq.get_connection("webhooks").flushdb()
        print(harness.machine_description())
        with tempfile.TemporaryDirectory() as logs:
            baseline = run_phase(
                events=args.events, workers=args.workers, with_hanging=False, env=env, logs=Path(logs), tag="a"
            )
            print(f"answering endpoints only: {baseline}")
            slowed = run_phase(
                events=args.events, workers=args.workers, with_hanging=True, env=env, logs=Path(logs), tag="b"
            )
            print(f"plus one that never answers: {slowed}")
        slowdown = (slowed["seconds"] - baseline["seconds"]) / baseline["seconds"] * 100
        print(f"slowdown from the silent endpoint: {slowdown:.1f}%")
    finally:
        harness.tear_down(args.database_url)


if __name__ == "__main__":
    socket.setdefaulttimeout(None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "invitations_project.settings")
    main()
