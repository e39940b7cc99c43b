"""Deliveries at a real provider's latency: `resend_invitations` over N eligible email (or SMS)
invitations, then the delivery workers README names (--workers delivery pools of one process each,
`python manage.py runworkers delivery --processes 1`, beside one webhooks and one default pool as the
Procfile starts them) send every one through anymail's Postmark backend to
a Postmark-compatible API on 127.0.0.1 (with --channel sms: through the twilio client to a
Twilio-compatible Messages API) that answers each call after --latency seconds.

    .venv/bin/python bench/provider_latency.py --count 10000 --workers 2 [--channel sms] [--kill]

Prints the wall time from the command's start until every invitation is `sent`, the rate, the CPU
the service's processes (Python, PostgreSQL, Redis) spent meanwhile, a message's share of it, what the
provider received (distinct attempt keys, calls repeating a key), the billing events, and the
workers' peak memory (VmHWM of each worker and its scheduler, summed). With --kill, one worker is
SIGKILLed once a third is sent, at a moment the provider holds a call of it (the provider goes on
and takes what it holds), and another started in its place, as a supervisor would; the sweeper
(rqcron, with short leases for the run) hands the attempts it held to the others, which ask the
provider before sending again (Postmark's outbound message search, Twilio's message list). Neither
API takes an idempotency key: an attempt in two of the provider's messages was sent twice.
"""

import argparse
import os
import signal
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness, seeding
from bench.fake_providers import FakePostmark, FakeSendGrid, FakeTwilio
from bench.webhook_fanout import peak_memory_kib

TWILIO_SID = "AC" + "0" * 31 + "1"


def seed(count: int, channel: str) -> None:
    from accounts.principals import Actor
    from accounts.services import organization_create

    organization = organization_create(slug="latency", name="Latency", actor=Actor.system("bench"))
    seeding.sent_invitations(organization, count, channel=channel)


def service_cpu() -> dict[str, float]:
    """CPU seconds so far of the service's kinds of process: Python (workers, the command, the
    scheduler; this process too, taken out by the caller), PostgreSQL and Redis."""
    kinds = {"python": ("python",), "postgres": ("postgres",), "redis": ("redis-server",)}
    used = harness.cpu_seconds_by_program()
    return {
        kind: sum(seconds for name, seconds in used.items() if name.startswith(prefixes))
        for kind, prefixes in kinds.items()
    }


def sent_count() -> int:
    from delivery.models import DeliveryAttempt

    return DeliveryAttempt.objects.filter(number=2, status=DeliveryAttempt.Status.ACCEPTED).count()


def process_tree_peak_kib(pids: list[int]) -> int:
    """VmHWM of each process and of its children (the scheduler a worker forks), summed."""
    total = 0
    for pid in pids:
        total += peak_memory_kib(pid)
        children = Path(f"/proc/{pid}/task/{pid}/children")
        if children.exists():
            total += sum(peak_memory_kib(int(child)) for child in children.read_text().split())
    return total


class Outage:
    """The first provider down for the middle third of the sends (``--failover``)."""

    def __init__(self, provider, count: int, started: float):
        self.provider, self.count, self.started, self.moments = provider, count, started, 0

    def follow(self, done: int) -> None:
        if self.provider is None:
            return
        if self.moments == 0 and done >= self.count // 3:
            self.provider.down, self.moments = True, 1
            print(f"Postmark down at {done} sent, {time.monotonic() - self.started:.1f} s in")
        elif self.moments == 1 and done >= 2 * self.count // 3:
            self.provider.down, self.moments = False, 2
            print(f"Postmark back at {done} sent, {time.monotonic() - self.started:.1f} s in")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds the provider takes per call")
    parser.add_argument("--channel", choices=("email", "sms"), default="email")
    parser.add_argument("--kill", action="store_true", help="SIGKILL one worker once a third is sent")
    parser.add_argument(
        "--failover",
        action="store_true",
        help="email through Postmark then SendGrid (EMAIL_BACKENDS); Postmark down for the middle third",
    )
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--database-url", default=harness.DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default=harness.DEFAULT_REDIS_URL)
    args = parser.parse_args()

    second = None
    if args.channel == "email":
        provider = FakePostmark(args.latency)
        channel_settings = {
            "EMAIL_BACKEND": "anymail.backends.postmark.EmailBackend",
            "ANYMAIL_POSTMARK_SERVER_TOKEN": "bench-server-token",
            "ANYMAIL_POSTMARK_API_URL": provider.url + "/",
        }
        if args.failover:
            second = FakeSendGrid(args.latency, api_key="bench-sendgrid-key")
            channel_settings |= {
                "EMAIL_BACKENDS": "anymail.backends.postmark.EmailBackend,anymail.backends.sendgrid.EmailBackend",
                "ANYMAIL_SENDGRID_API_KEY": "bench-sendgrid-key",
                "ANYMAIL_SENDGRID_API_URL": second.url + "/v3/",
                "PROVIDER_REST_SECONDS": "5",
            }
    else:
        provider = FakeTwilio(args.latency, account_sid=TWILIO_SID, auth_token="bench-auth-token")
        channel_settings = {
            "SMS_BACKEND": "delivery.providers.twilio.TwilioSmsBackend",
            "TWILIO_ACCOUNT_SID": TWILIO_SID,
            "TWILIO_AUTH_TOKEN": "bench-auth-token",
            "TWILIO_API_BASE_URL": provider.url,
        }
    logs = Path(os.environ.get("TMPDIR", "/tmp")) / f"provider-latency-{os.getpid()}"
    logs.mkdir(parents=True, exist_ok=True)
    env = harness.bench_environment(
        args.database_url,
        args.redis_url,
        **channel_settings,
        PROMETHEUS_MULTIPROC_DIR=str(logs / "metrics"),
        # Short leases, so a killed worker's attempts are taken over within the run.
        DELIVERY_SENDING_TIMEOUT_SECONDS="20",
        DELIVERY_SWEEP_GRACE_SECONDS="5",
        DELIVERY_SWEEP_INTERVAL_SECONDS="5",
    )
    harness.recreate_database(args.database_url)
    children = harness.Children()
    try:
        harness.manage("migrate", "--noinput", "-v0", env=env)
        harness.setup_django()
        import django_rq

        from billing.models import BillingEvent
        from delivery.models import DeliveryAttempt
        from invitations.models import Invitation, InvitationEvent

        for queue in ("delivery", "webhooks", "default"):
            django_rq.get_connection(queue).flushdb()
        seed(args.count, args.channel)
        worker_args = [*harness.procfile_command("delivery"), "--processes", "1"]
        workers = [children.start(worker_args, env=env, log=logs / f"worker-{n}.log") for n in range(args.workers)]
        for name in ("webhooks", "default", "sweeper"):
            children.start(harness.procfile_command(name), env=env, log=logs / f"{name}.log")
        cpu_before, own_before = service_cpu(), sum(os.times()[:2])
        started = time.monotonic()
        command = children.start(
            [harness.PYTHON, "manage.py", "resend_invitations", "--org", "latency", "--channel", args.channel],
            env=env,
            log=logs / "command.log",
        )
        killed = None
        peak = 0
        deadline = started + args.timeout
        outage = Outage(provider if second is not None else None, args.count, started)
        while (done := sent_count()) < args.count and time.monotonic() < deadline:
            peak = max(peak, process_tree_peak_kib([w.pid for w in workers]))
            outage.follow(done)
            if args.kill and killed is None and done >= args.count // 3:
                while not provider.in_flight:  # the provider holds a call
                    time.sleep(0.005)
                killed = workers[0]
                os.killpg(killed.pid, signal.SIGKILL)
                killed.wait()
                workers[0] = children.start(worker_args, env=env, log=logs / "worker-replacement.log")
                print(f"killed worker {killed.pid} at {done} sent, {time.monotonic() - started:.1f} s in")
            time.sleep(0.5)
        elapsed = time.monotonic() - started
        cpu_after, own_after = service_cpu(), sum(os.times()[:2])
        command.wait(timeout=60)
        peak = max(peak, process_tree_peak_kib([w.pid for w in workers]))
        billed = BillingEvent.objects.count()
        done = sent_count()
        # Sends that needed more than one try (a transient failure waits out its backoff: the tail),
        # and what the failed tries said, from the invitations' audit rows.
        retried_sends = DeliveryAttempt.objects.filter(tries__gt=1).count()
        retried = Counter(
            InvitationEvent.objects.filter(to_status=Invitation.Status.FAILED)
            .values_list("message", flat=True)
            .iterator()
        )
        by_provider = Counter(
            DeliveryAttempt.objects.filter(number=2, status=DeliveryAttempt.Status.ACCEPTED).values_list(
                "provider", flat=True
            )
        )
    finally:
        children.stop_all()
        harness.tear_down(args.database_url)
        provider.stop()
        if second is not None:
            second.stop()

    repeated, distinct = provider.repeated(), len(provider.calls)
    if second is not None:
        # An attempt either provider took twice, or both took: a message its recipient got twice.
        both = Counter(provider.calls) + Counter(second.calls)
        repeated, distinct = sum(count - 1 for count in both.values() if count > 1), len(both)
        print(
            f"providers: postmark took {len(provider.messages)} and was called {provider.requests} times, "
            f"sendgrid took {len(second.messages)}; attempts accepted by provider: {dict(by_provider)}"
        )
    threads = env.get("RQ_WORKER_THREADS") or "16 (default)"
    print(
        f"channel: {args.channel}, workers: {args.workers}, threads each: {threads}, "
        f"provider latency: {args.latency * 1000:.0f} ms"
    )
    print(f"sent: {done} of {args.count} in {elapsed:.1f} s ({done / elapsed:.1f}/s)")
    print(f"lost: {args.count - done}")
    print(f"provider: {distinct} distinct attempts, {repeated} sent twice")
    print(f"provider: {provider.lookups} lookups of an earlier try's message before sending again")
    print(f"billing events: {billed}")
    print(f"sends tried more than once: {retried_sends}" + "".join(f"; {n}× {e!r}" for e, n in retried.items()))
    # This process is the fake provider: its own CPU is the provider's, not the service's.
    spent = {name: cpu_after.get(name, 0.0) - cpu_before.get(name, 0.0) for name in cpu_after}
    spent["python"] = spent.get("python", 0.0) - (own_after - own_before)
    total = sum(spent.values())
    parts = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in sorted(spent.items()))
    print(f"CPU of the service's processes: {total:.1f} s ({parts}), {total / max(done, 1) * 1000:.2f} ms a message")
    print(f"workers' peak memory: {peak / 1024:.0f} MiB")
    print(f"machine: {harness.machine_description()}")


if __name__ == "__main__":
    main()
