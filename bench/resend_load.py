"""Resend under load: gunicorn on PostgreSQL and Redis, N concurrent clients, each resending its own
distinct eligible invitations; the authenticated GET of one invitation is measured in the same run
as the baseline.

    .venv/bin/python bench/resend_load.py --clients 16 --requests 100 --workers 4 \
        --wrk-seconds 10 --rate 150 --rate-seconds 30 --max-fraction 0.8

Three ways of loading it, one after the other against the same gunicorn:

- closed loop, this script's own asyncio client: ``--clients`` connections, each sending its
  ``--requests`` GETs, then its resends, one after the other;
- closed loop, ``wrk`` (an independent load generator, `apt-get install wrk`): ``--clients``
  connections for ``--wrk-seconds`` of GETs, then as long of resends (``--wrk-seconds 0`` skips it);
- open loop: resends started at a fixed ``--rate`` per second for ``--rate-seconds``, whatever the
  answers (each on its own connection, its latency counted from when it was due, as wrk2 does),
  then again at ``--max-fraction`` of the most resends per second a closed loop reached.

Prints requests/s and latency percentiles for each, the resend / GET ratios, and checks afterwards
that every accepted resend left its invitation pending with one queued delivery attempt and one
job in Redis. The per-organization and per-IP resend throttles are raised through
RESEND_RATE_PER_ORG and RESEND_RATE_PER_IP (the load also spreads over one organization per
client): this measures the service's cost per resend, not the throttle refusing it.
"""

import argparse
import asyncio
import json
import resource
import shutil
import statistics
import subprocess
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
            "p999_ms": round(harness.percentile(ordered, 0.999) * 1000, 1),
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


async def open_loop(phase: Phase, port: int, plan: list[tuple[str, str]], rate: float) -> Phase:
    """Start the i-th (key, path) resend at i / rate seconds, whatever the answers so far; each
    latency runs from when its request was due, so a server falling behind is not hidden."""
    started = time.perf_counter() + 0.05
    late = []

    async def one(index: int, api_key: str, path: str) -> None:
        due = started + index / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        late.append(time.perf_counter() - due)
        http = HttpClient(port, api_key)
        try:
            status, _ = await http.request("POST", path)
        finally:
            await http.close()
        phase.record(status, time.perf_counter() - due)

    await asyncio.gather(*(one(index, key, path) for index, (key, path) in enumerate(plan)))
    phase.elapsed = time.perf_counter() - started
    phase.sent_late_ms = round(max(late, default=0) * 1000, 1)
    return phase


def seed_organizations(clients: int) -> list[dict]:
    """One organization and live key per client, with one invitation to GET."""
    from accounts.principals import Actor
    from accounts.services import api_key_create, organization_create
    from invitations.services import workflow_get_default

    actor = Actor.for_command("bench")
    seeded = []
    for n in range(clients):
        organization = organization_create(slug=f"bench-resend-{n}", name=f"Bench resend {n}", actor=actor)
        workflow = workflow_get_default(organization=organization)
        _, raw_key = api_key_create(organization=organization, livemode=True, name="bench", actor=actor)
        client = {"key": raw_key, "organization": organization, "workflow": workflow, "seeded": 0}
        client["get_token"] = seed_invitations(client, 1)[0]
        seeded.append(client)
    return seeded


def seed_invitations(client: dict, count: int) -> list[str]:
    """``count`` more invitations of this client's organization, eligible for a resend; their tokens."""
    from django.utils import timezone

    from invitations.models import Invitation

    now = timezone.now()
    first = client["seeded"]
    client["seeded"] += count
    rows = Invitation.objects.bulk_create(
        (
            Invitation(
                organization=client["organization"],
                workflow=client["workflow"],
                recipient=f"{client['organization'].slug}-{i}@example.com",
                livemode=True,
                status=Invitation.Status.SENT,
                channel=Invitation.Channel.EMAIL,
                delivery_attempts=1,
                created_at=now - timedelta(hours=2),
                sent_at=now - timedelta(hours=1),
                expires_at=now + timedelta(days=29),
            )
            for i in range(first, first + count)
        ),
        batch_size=2000,
    )
    return [row.token for row in rows]


def seed(*, clients: int, requests: int) -> list[dict]:
    """One organization and live key per client; `requests` eligible invitations for each, plus one to GET."""
    seeded = seed_organizations(clients)
    for client in seeded:
        client["resend_tokens"] = seed_invitations(client, requests)
    return seeded


def resend_plan(seeded: list[dict], per_client: int) -> list[tuple[str, str]]:
    """``per_client`` fresh invitations of each client, interleaved: (key, resend path)."""
    columns = [
        [(client["key"], f"/v1/autodoc/invitations/{token}/resend") for token in seed_invitations(client, per_client)]
        for client in seeded
    ]
    return [request for row in zip(*columns, strict=True) for request in row]


def run_wrk(port: int, method: str, lines: list[tuple[str, str]], *, connections: int, seconds: int) -> dict:
    """wrk with ``connections`` connections for ``seconds``; its threads share ``lines`` round robin."""
    threads = min(2, connections)
    directory = Path(tempfile.mkdtemp(prefix="bench-wrk-"))
    for number in range(1, threads + 1):
        rows = lines[number - 1 :: threads]
        (directory / f"lines.{number}").write_text("".join(f"{key} {path}\n" for key, path in rows))
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(harness.PROJECT_DIR / "bench" / "wrk" / "requests.lua"),
        f"http://127.0.0.1:{port}",
        "--",
        str(directory / "lines"),
        method,
    ]
    before, children_before = harness.cpu_seconds_by_program(), resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=True)
    after, children_after = harness.cpu_seconds_by_program(), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = {
        name: after[name] - before.get(name, 0.0) for name in ("gunicorn", "postgres", "redis-server") if name in after
    }
    cpu["wrk"] = (children_after.ru_utime + children_after.ru_stime) - (
        children_before.ru_utime + children_before.ru_stime
    )
    shutil.rmtree(directory, ignore_errors=True)
    line = next(line for line in result.stdout.splitlines() if line.startswith("WRK_JSON "))
    raw = json.loads(line.removeprefix("WRK_JSON "))
    seconds_taken = raw["duration_us"] / 1e6
    return {
        "requests": raw["requests"],
        "statuses": dict(sorted(raw["statuses"].items())),
        "seconds": round(seconds_taken, 3),
        "requests_per_second": round(raw["requests"] / seconds_taken, 1),
        "p50_ms": round(raw["p50_us"] / 1000, 1),
        "p99_ms": round(raw["p99_us"] / 1000, 1),
        "p999_ms": round(raw["p999_us"] / 1000, 1),
        "max_ms": round(raw["max_us"] / 1000, 1),
        "socket_errors": raw["socket_errors"],
        "reused_lines": raw["reused_lines"],
        # Where the machine's CPU went, per request answered.
        "cpu_ms_per_request": {name: round(value * 1000 / max(raw["requests"], 1), 2) for name, value in cpu.items()},
        "command": " ".join(
            ["wrk", *command[1:7], "bench/wrk/requests.lua", "http://127.0.0.1:PORT", "--", "LINES", method]
        ),
    }


def verify(seeded: list[dict], accepted: int) -> dict:
    """What the accepted resends left behind: nothing half-written, nothing lost."""
    import django_rq

    from delivery.models import DeliveryAttempt
    from invitations.models import Invitation, InvitationEvent

    organizations = [client["organization"] for client in seeded]
    resent = Invitation.objects.filter(organization__in=organizations, status=Invitation.Status.PENDING)
    pending = resent.filter(delivery_attempts=2).count()
    attempts = DeliveryAttempt.objects.filter(invitation__organization__in=organizations, number=2).count()
    audit_rows = InvitationEvent.objects.filter(
        invitation__organization__in=organizations, from_status="sent", to_status="pending"
    ).count()
    queued_jobs = django_rq.get_queue("delivery").count
    return {
        "accepted_resends": accepted,
        "invitations_pending_with_two_attempts": pending,
        "delivery_attempts_written": attempts,
        "audit_rows_written": audit_rows,
        "jobs_in_redis": queued_jobs,
        # wrk stops at its deadline without reading the answers still on their way: those resends
        # happened but are not counted as accepted, so the rows may outnumber ``accepted``.
        "lost": max(0, accepted - min(pending, attempts, audit_rows, queued_jobs)),
        "half_written": len({pending, attempts, audit_rows, queued_jobs}) != 1,
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


def describe(name: str, s: dict) -> str:
    return (
        f"{name}: {s['requests']} requests in {s['seconds']} s = {s['requests_per_second']} req/s, "
        f"p50 {s['p50_ms']} ms, p99 {s['p99_ms']} ms, p99.9 {s['p999_ms']} ms, max {s['max_ms']} ms, "
        f"statuses {s['statuses']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (default 16)")
    parser.add_argument("--requests", type=int, default=100, help="requests per client in each phase (default 100)")
    parser.add_argument("--warmup", type=int, default=10, help="unmeasured GETs per client first (default 10)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (default 4)")
    parser.add_argument(
        "--worker-class",
        choices=("asgi", "sync"),
        default="asgi",
        help="gunicorn's asyncio worker serving invitations_project.asgi, as gunicorn.conf.py runs it, or the "
        "sync worker serving invitations_project.wsgi (default asgi)",
    )
    parser.add_argument("--wrk-seconds", type=int, default=10, help="each wrk phase's length; 0 skips wrk (default 10)")
    parser.add_argument(
        "--wrk-max-rate", type=int, default=1500, help="resends/s to seed invitations for under wrk (default 1500)"
    )
    parser.add_argument("--rate", type=float, default=150, help="open loop: resends started a second (default 150)")
    parser.add_argument("--rate-seconds", type=float, default=30, help="open loop: for how long; 0 skips (default 30)")
    parser.add_argument(
        "--max-fraction", type=float, default=0.8, help="open loop again at this fraction of the closed-loop maximum"
    )
    parser.add_argument("--database-url", default=harness.DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default=harness.DEFAULT_REDIS_URL)
    parser.add_argument("--timeout", type=float, default=600, help="give up after this many seconds (default 600)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args()
    if args.wrk_seconds and shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk), or pass --wrk-seconds 0.")

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
    figures: dict = {"clients": args.clients, "gunicorn_workers": args.workers, "worker_class": args.worker_class}
    accepted = 0
    try:
        harness.manage("migrate", "--noinput", "-v0", env=env)
        harness.setup_django()
        import django_rq

        redis = django_rq.get_connection("delivery")
        redis.flushdb()
        seeded = seed_organizations(args.clients)

        port = harness.free_port()
        children.start(
            [
                str(Path(harness.PYTHON).parent / "gunicorn"),
                "invitations_project.wsgi" if args.worker_class == "sync" else "invitations_project.asgi",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(args.workers),
                "--worker-class",
                args.worker_class,
                "--backlog",
                "2048",
                "--log-level",
                "warning",
            ],
            env=env,
            log=logs / "gunicorn.log",
        )
        wait_until_serving(port)
        get_path = {client["key"]: f"/v1/autodoc/invitations/{client['get_token']}" for client in seeded}

        def gets(client: dict, count: int) -> list[tuple[str, str]]:
            return [("GET", get_path[client["key"]])] * count

        plans = {client["key"]: resend_plan([client], args.requests) for client in seeded}

        async def closed_loop() -> tuple[Phase, Phase]:
            await run_phase(Phase("warmup"), port, [(c["key"], gets(c, args.warmup)) for c in seeded])
            get = await run_phase(Phase("get"), port, [(c["key"], gets(c, args.requests)) for c in seeded])
            resend = await run_phase(
                Phase("resend"), port, [(key, [("POST", path) for _, path in plan]) for key, plan in plans.items()]
            )
            return get, resend

        get, resend = asyncio.run(asyncio.wait_for(closed_loop(), timeout=args.timeout))
        figures["closed_loop"] = {"get": get.summary(), "resend": resend.summary()}
        accepted += resend.statuses.get(200, 0)
        most = resend.summary()["requests_per_second"]

        if args.wrk_seconds:
            connections = args.clients
            wrk_get = run_wrk(port, "GET", list(get_path.items()), connections=connections, seconds=args.wrk_seconds)
            per_client = -(-args.wrk_max_rate * args.wrk_seconds // args.clients)
            wrk_resend = run_wrk(
                port, "POST", resend_plan(seeded, per_client), connections=connections, seconds=args.wrk_seconds
            )
            if wrk_resend["reused_lines"]:
                raise SystemExit("wrk ran out of fresh invitations; raise --wrk-max-rate.")
            figures["wrk"] = {"get": wrk_get, "resend": wrk_resend}
            accepted += int(wrk_resend["statuses"].get("200", 0))
            most = max(most, wrk_resend["requests_per_second"])

        if args.rate_seconds:
            open_runs = {}
            for rate in (args.rate, round(args.max_fraction * most, 1)):
                plan = resend_plan(seeded, -(-int(rate * args.rate_seconds) // args.clients))
                plan = plan[: int(rate * args.rate_seconds)]
                phase = asyncio.run(open_loop(Phase(f"open loop at {rate}/s"), port, plan, rate))
                open_runs[str(rate)] = {**phase.summary(), "rate": rate, "sent_late_max_ms": phase.sent_late_ms}
                accepted += phase.statuses.get(200, 0)
            figures["open_loop"] = open_runs
        # gunicorn stops gracefully: the requests wrk left in flight finish before the rows are counted.
        children.stop_all()
        figures["checks"] = verify(seeded, accepted)
    finally:
        children.stop_all()
        harness.tear_down(args.database_url)
    figures["machine"] = harness.machine_description()
    report(figures, args)


def report(figures: dict, args) -> None:
    refused = []
    for loop in ("closed_loop", "wrk"):
        if loop not in figures:
            continue
        get, resend = figures[loop]["get"], figures[loop]["resend"]
        label = "asyncio closed loop" if loop == "closed_loop" else "wrk closed loop"
        print(f"{label}, {args.clients} connections, {args.workers} gunicorn workers:")
        print("  " + describe("   get", get))
        print("  " + describe("resend", resend))
        if loop == "wrk":
            print(f"  command: {resend['command']}")
            for name, phase in (("get", get), ("resend", resend)):
                spent = ", ".join(f"{program} {ms}" for program, ms in phase["cpu_ms_per_request"].items())
                print(f"  CPU ms per {name}: {spent}")
        ratio = round(resend["requests_per_second"] / get["requests_per_second"], 2)
        figures[loop]["resend_to_get_throughput"] = ratio
        print(f"  resend / GET throughput: {ratio} (target >= 0.5: {'met' if ratio >= 0.5 else 'NOT met'})")
        refused += [status for status in resend["statuses"] if str(status) != "200"]
    for rate, run in figures.get("open_loop", {}).items():
        p99 = run["p99_ms"]
        late = run["sent_late_max_ms"]
        print(f"open loop at {rate} resends/s for {args.rate_seconds} s (each sent at most {late} ms late):")
        print("  " + describe("resend", run))
        print(f"  p99 {p99} ms (target < 50 ms: {'met' if p99 < 50 else 'NOT met'})")
        refused += [status for status in run["statuses"] if str(status) != "200"]
    checks = figures["checks"]
    print(f"after the run: {checks}")
    print(f"machine: {figures['machine']}")
    if args.json:
        print(json.dumps(figures, indent=2, default=str))
    if checks["lost"] or refused:
        raise SystemExit("Some resends were refused or lost; see the figures above.")


if __name__ == "__main__":
    main()
