"""Delivery throughput: N queued delivery attempts through real rq workers with the locmem email and
SMS backends, against N no-op rq jobs through the same workers in the same run.

    .venv/bin/python bench/delivery_throughput.py --attempts 10000 --workers 2

Both phases enqueue everything first, then start the workers in burst mode (the production command,
``manage.py rqworker delivery``), so the figure is the workers' rate, read from the jobs' own start
and end times. Both phases run the worker class the settings choose (``RQ_WORKER_CLASS``, or
``--worker-class``). The delivery phase then checks that every attempt was accepted exactly once:
its invitation sent and one billing event written.
"""

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness

ENQUEUE_BATCH = 1000


def seed(*, attempts: int, organizations: int) -> list[int]:
    """Pending live invitations, half email and half SMS, each with its first attempt queued."""
    from django.utils import timezone

    from accounts.principals import Actor
    from accounts.services import organization_create

    BENCH_ACTOR = Actor.for_command("bench")
    from delivery.models import DeliveryAttempt
    from invitations.models import Invitation
    from invitations.services import workflow_get_default

    now = timezone.now()
    orgs = [
        organization_create(slug=f"bench-delivery-{n}", name=f"Bench delivery {n}", actor=BENCH_ACTOR)
        for n in range(organizations)
    ]
    workflows = {org.pk: workflow_get_default(organization=org) for org in orgs}
    invitations = []
    for i in range(attempts):
        org = orgs[i % organizations]
        sms = i % 2 == 1
        invitations.append(
            Invitation(
                organization=org,
                workflow=workflows[org.pk],
                livemode=True,
                status=Invitation.Status.PENDING,
                channel=Invitation.Channel.SMS if sms else Invitation.Channel.EMAIL,
                recipient=f"+1415555{i % 10000:04d}" if sms else f"person{i}@example.com",
                delivery_attempts=1,
                created_at=now,
                expires_at=now + timedelta(days=30),
            )
        )
    invitations = Invitation.objects.bulk_create(invitations, batch_size=1000)
    rows = DeliveryAttempt.objects.bulk_create(
        (
            DeliveryAttempt(
                invitation=invitation,
                number=1,
                channel=invitation.channel,
                recipient=invitation.recipient,
                livemode=True,
            )
            for invitation in invitations
        ),
        batch_size=1000,
    )
    return [row.pk for row in rows]


def enqueue(func, argument_lists: list[tuple], **options) -> list[str]:
    import django_rq
    from rq import Queue

    queue = django_rq.get_queue("delivery")
    ids = []
    for start in range(0, len(argument_lists), ENQUEUE_BATCH):
        batch = argument_lists[start : start + ENQUEUE_BATCH]
        with queue.connection.pipeline() as pipe:
            jobs = queue.enqueue_many([Queue.prepare_data(func, args=args, **options) for args in batch], pipeline=pipe)
            pipe.execute()
        ids.extend(job.id for job in jobs)
    return ids


def run_workers(*, count: int, env: dict, logs: Path, name: str, timeout: float) -> float:
    """Start `count` burst workers on the delivery queue and wait until all have drained it."""
    children = harness.Children()
    started = time.perf_counter()
    try:
        processes = [
            children.start(
                [harness.PYTHON, "manage.py", "rqworker", "delivery", "--burst"],
                env=env,
                log=logs / f"{name}-worker-{n}.log",
            )
            for n in range(count)
        ]
        deadline = time.monotonic() + timeout
        for process in processes:
            process.wait(timeout=max(1, deadline - time.monotonic()))
    finally:
        children.stop_all()
    return time.perf_counter() - started


def job_window(job_ids: list[str]) -> dict:
    """Throughput read from the jobs themselves: first start to last end, and how each one finished."""
    import django_rq
    from rq.job import Job

    connection = django_rq.get_connection("delivery")
    starts, ends, statuses = [], [], {}
    for start in range(0, len(job_ids), ENQUEUE_BATCH):
        for job in Job.fetch_many(job_ids[start : start + ENQUEUE_BATCH], connection=connection):
            if job is None:
                statuses["missing"] = statuses.get("missing", 0) + 1
                continue
            status = job.get_status().value
            statuses[status] = statuses.get(status, 0) + 1
            if job.started_at and job.ended_at:
                starts.append(job.started_at)
                ends.append(job.ended_at)
    seconds = (max(ends) - min(starts)).total_seconds() if ends else float("nan")
    finished = statuses.get("finished", 0)
    return {
        "jobs": len(job_ids),
        "statuses": statuses,
        "seconds": round(seconds, 3),
        "jobs_per_second": round(finished / seconds, 1) if ends else 0.0,
    }


def verify(attempt_ids: list[int]) -> dict:
    from billing.models import BillingEvent
    from delivery.models import DeliveryAttempt
    from invitations.models import Invitation

    attempts = DeliveryAttempt.objects.filter(pk__in=attempt_ids)
    accepted = attempts.filter(status=DeliveryAttempt.Status.ACCEPTED).count()
    tried_more_than_once = attempts.filter(tries__gt=1).count()
    sent = Invitation.objects.filter(delivery_attempts_set__pk__in=attempt_ids, status=Invitation.Status.SENT).count()
    billed = BillingEvent.objects.filter(source_id__in=[f"attempt:{pk}" for pk in attempt_ids]).count()
    return {
        "attempts": len(attempt_ids),
        "accepted": accepted,
        "provider_called_more_than_once": tried_more_than_once,
        "invitations_sent": sent,
        "billing_events": billed,
        "lost": len(attempt_ids) - min(accepted, sent, billed),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--attempts", type=int, default=10_000, help="delivery attempts, and no-op jobs (10000)")
    parser.add_argument("--workers", type=int, default=2, help="rq worker processes (default 2)")
    parser.add_argument(
        "--worker-class",
        default=None,
        help="rq worker class for both phases (default: the settings', RQ_WORKER_CLASS or InProcessWorker)",
    )
    parser.add_argument("--organizations", type=int, default=10)
    parser.add_argument("--database-url", default=harness.DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default=harness.DEFAULT_REDIS_URL)
    parser.add_argument("--timeout", type=float, default=900, help="give up on a phase after this many seconds")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args()
    load_at_start = os.getloadavg()

    chosen = {"RQ_WORKER_CLASS": args.worker_class} if args.worker_class else {}
    env = harness.bench_environment(
        args.database_url,
        args.redis_url,
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        SMS_BACKEND="delivery.sms.LocmemSmsBackend",
        LOG_LEVEL="WARNING",
        **chosen,
    )
    logs = Path(tempfile.mkdtemp(prefix="bench-delivery-"))
    harness.recreate_database(args.database_url)
    try:
        harness.manage("migrate", "--noinput", "-v0", env=env)
        harness.setup_django()
        import django_rq
        from django_rq.workers import get_worker_class

        from delivery.jobs import deliver_attempt
        from delivery.services import retry_policy

        worker_class = get_worker_class()
        worker_class_name = f"{worker_class.__module__}.{worker_class.__qualname__}"
        print(
            f"start: {args.attempts} no-op jobs, then as many deliveries, {args.workers} x {worker_class_name}; "
            f"load average {', '.join(f'{v:.2f}' for v in load_at_start)}",
            flush=True,
        )

        redis = django_rq.get_connection("delivery")
        redis.flushdb()
        attempt_ids = seed(attempts=args.attempts, organizations=args.organizations)

        noop_ids = enqueue("bench.noop.noop", [(n,) for n in range(args.attempts)])
        workers = {"count": args.workers, "env": env, "logs": logs, "timeout": args.timeout}
        noop_wall = run_workers(**workers, name="noop")
        noop = {**job_window(noop_ids), "wall_seconds_with_worker_start": round(noop_wall, 1)}
        redis.flushdb()

        delivery_ids = enqueue(deliver_attempt, [(pk,) for pk in attempt_ids], retry=retry_policy())
        delivery_wall = run_workers(**workers, name="delivery")
        delivery = {**job_window(delivery_ids), "wall_seconds_with_worker_start": round(delivery_wall, 1)}
        checks = verify(attempt_ids)
    finally:
        harness.tear_down(args.database_url)

    ratio = round(delivery["jobs_per_second"] / noop["jobs_per_second"], 2) if noop["jobs_per_second"] else 0.0
    figures = {
        "machine": harness.machine_description(),
        "workers": args.workers,
        "worker_class": worker_class_name,
        "load_average_start": [round(value, 2) for value in load_at_start],
        "load_average_end": [round(value, 2) for value in os.getloadavg()],
        "noop": noop,
        "delivery": delivery,
        "delivery_to_noop": ratio,
        "checks": checks,
        "worker_logs": str(logs),
    }
    for name in ("noop", "delivery"):
        s = figures[name]
        print(
            f"{name:>8}: {s['jobs']} jobs, {s['jobs_per_second']} jobs/s over {s['seconds']} s "
            f"(wall {s['wall_seconds_with_worker_start']} s with worker start), statuses {s['statuses']}"
        )
    print(f"deliveries / no-op jobs: {ratio} (target >= 0.5: {'met' if ratio >= 0.5 else 'NOT met'})")
    print(f"after the run: {checks}")
    print(f"workers: {args.workers} x {figures['worker_class']}; machine: {figures['machine']}")
    print(
        "load average (1, 5, 15 min): at start {}, at end {}".format(
            *(", ".join(f"{v:.2f}" for v in figures[key]) for key in ("load_average_start", "load_average_end"))
        )
    )
    if args.json:
        print(json.dumps(figures, indent=2))
    if checks["lost"] or checks["provider_called_more_than_once"]:
        raise SystemExit("Some deliveries were lost or repeated; see the figures above.")


if __name__ == "__main__":
    main()
