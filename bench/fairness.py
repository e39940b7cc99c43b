"""Fairness between tenants: one organization sends invitations and is told of them by webhook, first
alone, then while another organization, with nothing but a sandbox key, keeps every webhook endpoint
it may have (WEBHOOK_MAX_ENDPOINTS) busy on receivers that answer "200 OK" and then drip a header
byte every second. The worker pools run exactly as the Procfile starts them.

    .venv/bin/python bench/fairness.py --invitations 100 --rate 5

Prints, for each phase, the second organization's latency from create to the provider accepting the
email (``sent``) and to its ``invitation.sent`` webhook arriving, p50 and p99, and what the first
organization had in flight at most.
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness


def summary(values: list[float]) -> str:
    if not values:
        return "none"
    return (
        f"p50 {statistics.median(values) * 1000:.0f} ms, p99 {harness.percentile(sorted(values), 0.99) * 1000:.0f} ms, "
        f"max {max(values) * 1000:.0f} ms ({len(values)})"
    )


def send_phase(*, organization, workflow, count: int, rate: float, receiver, timeout: float) -> dict:
    """``count`` creates at ``rate`` a second; each one's seconds until sent and until its webhook."""
    from accounts.principals import Actor
    from invitations.models import Invitation
    from invitations.services import invitation_create

    actor = Actor.for_command("bench")
    created: dict[str, float] = {}
    for number in range(count):
        due = time.monotonic()
        invitation = invitation_create(
            organization=organization,
            livemode=True,
            channel="email",
            recipient=f"person{number}@example.com",
            workflow_token=workflow.token,
            actor=actor,
        )
        created[invitation.token] = due
        time.sleep(max(0.0, due + 1 / rate - time.monotonic()))
    sent_at: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for token in Invitation.objects.filter(token__in=created, sent_at__isnull=False).values_list(
            "token", flat=True
        ):
            sent_at.setdefault(token, time.monotonic())
        if len(sent_at) == count and all((token, "invitation.sent") in receiver.arrivals for token in created):
            break
        time.sleep(0.02)
    # Sent times are read by polling (every 20 ms); the database's own times say it exactly.
    exact = dict(Invitation.objects.filter(token__in=created).values_list("token", "sent_at"))
    created_at = dict(Invitation.objects.filter(token__in=created).values_list("token", "created_at"))
    delivery = [(exact[t] - created_at[t]).total_seconds() for t in created if exact.get(t)]
    webhook = [
        receiver.arrivals[(t, "invitation.sent")] - created[t]
        for t in created
        if (t, "invitation.sent") in receiver.arrivals
    ]
    return {"delivery": delivery, "webhook": webhook, "lost": count - min(len(delivery), len(webhook))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invitations", type=int, default=100, help="creates per phase (default 100)")
    parser.add_argument("--rate", type=float, default=5, help="creates a second (default 5)")
    parser.add_argument("--drip-seconds", type=float, default=1.0, help="the slow receivers' pace (default 1 s)")
    parser.add_argument("--tests-per-endpoint", type=int, default=10, help="the attacker's test events each (10)")
    parser.add_argument("--timeout", type=float, default=120, help="wait this long for each phase's sends")
    parser.add_argument("--database-url", default=harness.DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default=harness.DEFAULT_REDIS_URL)
    args = parser.parse_args()

    logs = Path(tempfile.mkdtemp(prefix="bench-fairness-"))
    (logs / "metrics").mkdir(mode=0o700)
    from bench.fake_providers import FakePostmark
    from bench.receivers import RecordingReceiver, SlowReceiver

    postmark = FakePostmark(latency=0.2)
    env = harness.bench_environment(
        args.database_url,
        args.redis_url,
        EMAIL_BACKEND="anymail.backends.postmark.EmailBackend",
        ANYMAIL_POSTMARK_SERVER_TOKEN="bench-server-token",
        ANYMAIL_POSTMARK_API_URL=postmark.url + "/",
        WEBHOOK_ALLOW_PRIVATE_URLS="1",
        PROMETHEUS_MULTIPROC_DIR=str(logs / "metrics"),
        CREATE_RATE_PER_ORG="1000000/m",
    )
    children = harness.Children()
    harness.recreate_database(args.database_url)
    figures: dict = {}
    try:
        harness.manage("migrate", "--noinput", "-v0", env=env)
        harness.setup_django()
        import django_rq
        from django.conf import settings

        from accounts.principals import Actor
        from accounts.services import organization_create
        from invitations.services import workflow_get_default
        from webhooks.services import webhook_endpoint_create, webhook_endpoint_test

        django_rq.get_connection("delivery").flushdb()
        for name in ("delivery", "webhooks", "default", "sweeper"):
            children.start(harness.procfile_command(name), env=env, log=logs / f"{name}.log")
        actor = Actor.for_command("bench")
        victim = organization_create(slug="bench-victim", actor=actor)
        workflow = workflow_get_default(organization=victim)
        receiver = RecordingReceiver()
        webhook_endpoint_create(organization=victim, livemode=True, url=receiver.url())
        time.sleep(3)  # the pools are up

        alone = send_phase(
            organization=victim,
            workflow=workflow,
            count=args.invitations,
            rate=args.rate,
            receiver=receiver,
            timeout=args.timeout,
        )
        attacker = organization_create(slug="bench-attacker", actor=actor)
        drip = SlowReceiver(drip=True, every=args.drip_seconds)
        for _ in range(settings.WEBHOOK_MAX_ENDPOINTS):
            endpoint, _ = webhook_endpoint_create(organization=attacker, livemode=False, url=drip.url())
            for _ in range(args.tests_per_endpoint):
                webhook_endpoint_test(endpoint=endpoint)
        time.sleep(2)  # the attacker's tries are in flight
        contended = send_phase(
            organization=victim,
            workflow=workflow,
            count=args.invitations,
            rate=args.rate,
            receiver=receiver,
            timeout=args.timeout,
        )
        figures = {"alone": alone, "with_attacker": contended, "attacker_most_in_flight": drip.most_open}
        drip.close()
        receiver.close()
    finally:
        children.stop_all()
        postmark.stop()
        harness.tear_down(args.database_url)

    print(f"{args.invitations} invitations a phase at {args.rate}/s; email provider answering in 200 ms")
    for phase in ("alone", "with_attacker"):
        data = figures[phase]
        print(f"  {phase}:")
        print(f"    create -> sent:             {summary(data['delivery'])}")
        print(f"    create -> webhook received: {summary(data['webhook'])}")
        print(f"    lost: {data['lost']}")
    print(f"  the attacker's tries in flight at most: {figures['attacker_most_in_flight']}")
    print(f"  machine: {harness.machine_description()}")


if __name__ == "__main__":
    main()
