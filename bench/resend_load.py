"""Resend under load: gunicorn on PostgreSQL and Redis, N concurrent clients, each resending its own
distinct eligible invitations; the authenticated GET of one invitation is measured in the same run
as the baseline.

    .venv/bin/python bench/resend_load.py --clients 16 --requests 100 --workers 4

Prints requests/s, p50 and p99 latency for both, their ratio, and checks afterwards that every
accepted resend left its invitation pending with one queued delivery attempt and one job in Redis.
The per-organization and per-IP resend throttles are raised through RESEND_RATE_PER_ORG and
RESEND_RATE_PER_IP (the load also spreads over one organization per client): this measures the
service's cost per resend, not the throttle refusing it.
"""

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness


@dataclass
class Phase:
    name: str
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    elapsed: float = 0.0

    def record(self, status: int, latency: float) -> None:
        self.latencies.append(latency)
        self.statuses[status] = self.statuses.get(status, 0) + 1

    def summary(self) -> dict:
        ordered = sorted(self.latencies)
        return {
            "requests": len(ordered),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "seconds": round(self.elapsed, 3),
            "requests_per_second": round(len(ordered) / self.elapsed, 1) if self.elapsed else 0.0,
            "p50_ms": round(harness.percentile(ordered, 0.50) * 1000, 1),
            "p99_ms": round(harness.percentile(ordered, 0.99) * 1000, 1),
            "max_ms": round(ordered[-1] * 1000, 1) if ordered else None,
            "mean_ms": round(statistics.fmean(ordered) * 1000, 1) if ordered else None,
        }


class HttpClient:
    """One client connection to 127.0.0.1, reused while the server keeps it alive (HTTP/1.1)."""

    def __init__(self, port: int, api_key: str):
        self.port = port
        self.api_key = api_key
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except OSError:
                pass
        self.reader = self.writer = None

    async def request(self, method: str, path: str) -> tuple[int, float]:
        started = time.perf_counter()
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.writer.write(
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            f"Authorization: Bearer {self.api_key}\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n".encode()
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        await self.reader.readexactly(int(headers.get("content-length", "0")))
        latency = time.perf_counter() - started
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return status, latency


async def run_phase(phase: Phase, port: int, plans: list[tuple[str, list[tuple[str, str]]]]) -> Phase:
    """Each plan is one client: its key and the (method, path) requests it sends one after another."""

    async def client(api_key: str, requests: list[tuple[str, str]]) -> None:
        http = HttpClient(port, api_key)
        try:
            for method, path in requests:
                status, latency = await http.request(method, path)
                phase.record(status, latency)
        finally:
            await http.close()

    started = time.perf_counter()
    await asyncio.gather(*(client(key, requests) for key, requests in plans))
    phase.elapsed = time.perf_counter() - started
    return phase


def seed(*, clients: int, requests: int) -> list[dict]:
    """One organization and live key per client; `requests` eligible invitations for each, plus one to GET."""
    from django.utils import timezone

    from accounts.principals import Actor
    from accounts.services import api_key_create, organization_create

    BENCH_ACTOR = Actor.for_command("bench")
    from invitations.models import Invitation
    from invitations.services import workflow_get_default

    now = timezone.now()
    sent = {
        "livemode": True,
        "status": Invitation.Status.SENT,
        "channel": Invitation.Channel.EMAIL,
        "delivery_attempts": 1,
        "created_at": now - timedelta(hours=2),
        "sent_at": now - timedelta(hours=1),
        "expires_at": now + timedelta(days=29),
    }
    seeded = []
    for n in range(clients):
        organization = organization_create(slug=f"bench-resend-{n}", name=f"Bench resend {n}", actor=BENCH_ACTOR)
        workflow = workflow_get_default(organization=organization)
        _, raw_key = api_key_create(organization=organization, livemode=True, name="bench", actor=BENCH_ACTOR)
        rows = Invitation.objects.bulk_create(
            Invitation(organization=organization, workflow=workflow, recipient=f"c{n}-{i}@example.com", **sent)
            for i in range(requests + 1)
        )
        seeded.append({"key": raw_key, "get_token": rows[0].token, "resend_tokens": [r.token for r in rows[1:]]})
    return seeded


def verify(seeded: list[dict], resend: Phase) -> dict:
    """What the accepted resends left behind: nothing half-written, nothing lost."""
    import django_rq

    from delivery.models import DeliveryAttempt
    from invitations.models import Invitation, InvitationEvent

    tokens = [token for client in seeded for token in client["resend_tokens"]]
    accepted = resend.statuses.get(200, 0)
    pending = Invitation.objects.filter(token__in=tokens, status=Invitation.Status.PENDING, delivery_attempts=2).count()
    attempts = DeliveryAttempt.objects.filter(invitation__token__in=tokens, number=2).count()
    audit_rows = InvitationEvent.objects.filter(invitation__token__in=tokens, to_status="pending").count()
    queued_jobs = django_rq.get_queue("delivery").count
    return {
        "accepted_resends": accepted,
        "invitations_pending_with_two_attempts": pending,
        "delivery_attempts_written": attempts,
        "audit_rows_written": audit_rows,
        "jobs_in_redis": queued_jobs,
        "lost": accepted - min(pending, attempts, audit_rows, queued_jobs),
    }


def wait_until_serving(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status, _ = asyncio.run(HttpClient(port, "private_probe").request("GET", "/v1/autodoc/invitations"))
            if status == 401:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("gunicorn did not start serving in time; see its log.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (default 16)")
    parser.add_argument("--requests", type=int, default=100, help="requests per client in each phase (default 100)")
    parser.add_argument("--warmup", type=int, default=10, help="unmeasured GETs per client first (default 10)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers (default 4)")
    parser.add_argument("--database-url", default=harness.DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default=harness.DEFAULT_REDIS_URL)
    parser.add_argument("--timeout", type=float, default=600, help="give up after this many seconds (default 600)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args()

    env = harness.bench_environment(
        args.database_url,
        args.redis_url,
        RESEND_RATE_PER_ORG="1000000/m",
        RESEND_RATE_PER_IP="1000000/m",
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        SMS_BACKEND="delivery.sms.LocmemSmsBackend",
    )
    children = harness.Children()
    logs = Path(tempfile.mkdtemp(prefix="bench-resend-"))
    harness.recreate_database(args.database_url)
    try:
        harness.manage("migrate", "--noinput", "-v0", env=env)
        harness.setup_django()
        import django_rq

        redis = django_rq.get_connection("delivery")
        redis.flushdb()
        seeded = seed(clients=args.clients, requests=args.requests)

        port = harness.free_port()
        children.start(
            [
                str(Path(harness.PYTHON).parent / "gunicorn"),
                "invitations_project.wsgi",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(args.workers),
                "--worker-class",
                "sync",
                "--backlog",
                "2048",
                "--log-level",
                "warning",
            ],
            env=env,
            log=logs / "gunicorn.log",
        )
        wait_until_serving(port)

        def gets(client: dict, count: int) -> list[tuple[str, str]]:
            return [("GET", f"/v1/autodoc/invitations/{client['get_token']}")] * count

        def resends(client: dict) -> list[tuple[str, str]]:
            return [("POST", f"/v1/autodoc/invitations/{token}/resend") for token in client["resend_tokens"]]

        async def run() -> tuple[Phase, Phase]:
            await run_phase(Phase("warmup"), port, [(c["key"], gets(c, args.warmup)) for c in seeded])
            get = await run_phase(Phase("get"), port, [(c["key"], gets(c, args.requests)) for c in seeded])
            resend = await run_phase(Phase("resend"), port, [(c["key"], resends(c)) for c in seeded])
            return get, resend

        get, resend = asyncio.run(asyncio.wait_for(run(), timeout=args.timeout))
        checks = verify(seeded, resend)
    finally:
        children.stop_all()
        try:
            import django_rq

            django_rq.get_connection("delivery").flushdb()
        except Exception as exc:
            print(f"could not flush the bench Redis DB: {exc}", file=sys.stderr)
        from django.db import connections

        connections.close_all()
        harness.drop_database(args.database_url)

    get_rps, resend_rps = get.summary()["requests_per_second"], resend.summary()["requests_per_second"]
    figures = {
        "machine": harness.machine_description(),
        "clients": args.clients,
        "gunicorn_workers": args.workers,
        "get": get.summary(),
        "resend": resend.summary(),
        "resend_to_get_throughput": round(resend_rps / get_rps, 2),
        "checks": checks,
    }
    for name in ("get", "resend"):
        s = figures[name]
        print(
            f"{name:>6}: {s['requests']} requests in {s['seconds']} s = {s['requests_per_second']} req/s, "
            f"p50 {s['p50_ms']} ms, p99 {s['p99_ms']} ms, max {s['max_ms']} ms, statuses {s['statuses']}"
        )
    ratio = figures["resend_to_get_throughput"]
    p99 = figures["resend"]["p99_ms"]
    print(f"resend / GET throughput: {ratio} (target >= 0.5: {'met' if ratio >= 0.5 else 'NOT met'})")
    print(f"resend p99 at {args.clients} clients: {p99} ms (target < 100 ms: {'met' if p99 < 100 else 'NOT met'})")
    print(f"after the run: {checks}")
    print(f"machine: {figures['machine']}")
    if args.json:
        print(json.dumps(figures, indent=2))
    if checks["lost"] or set(resend.statuses) != {200}:
        raise SystemExit("Some resends were refused or lost; see the figures above.")


if __name__ == "__main__":
    main()
