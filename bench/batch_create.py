"""Batch create against single creates: N invitations made by N `POST /v1/autodoc/invitations`
against one `POST /v1/autodoc/invitations/batch` of N items, in-process through Django's test client
(the whole middleware and DRF stack, the request log and the enqueue to Redis after commit included).

    .venv/bin/python bench/batch_create.py --count 500 --rounds 3

Prints, for each way, the wall time and the CPU it cost (this process, PostgreSQL and Redis), the
median of the rounds, and the batch's share of the singles' cost: the target is at most a fifth.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness


def measured(func) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process, PostgreSQL and Redis) of ``func()``."""
    programs = ("postgres", "redis-server")
    before = harness.cpu_seconds_by_program()
    own = sum(os.times()[:2])
    started = time.perf_counter()
    func()
    wall = time.perf_counter() - started
    after = harness.cpu_seconds_by_program()
    cpu = sum(os.times()[:2]) - own + sum(after.get(p, 0.0) - before.get(p, 0.0) for p in programs)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=500, help="invitations per way and round (default 500)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", default=harness.DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default=harness.DEFAULT_REDIS_URL)
    args = parser.parse_args()

    env = harness.bench_environment(
        args.database_url,
        args.redis_url,
        # One organization from one address: measure the creates, not the throttles.
        CREATE_RATE_PER_ORG="1000000/m",
        BATCH_CREATE_RATE_PER_ORG="1000000/m",
        RESEND_RATE_PER_IP="1000000/m",
        BATCH_CREATE_MAX=str(max(500, args.count)),
    )
    harness.recreate_database(args.database_url)
    try:
        harness.manage("migrate", "--noinput", "-v0", env=env)
        harness.setup_django()
        import django_rq
        from django.test import Client

        from accounts.principals import Actor
        from accounts.services import api_key_create, organization_create
        from invitations.models import Invitation

        django_rq.get_connection("delivery").flushdb()
        organization = organization_create(slug="batch", name="Batch", actor=Actor.system("bench"))
        key = api_key_create(organization=organization, livemode=True, name="bench", actor=Actor.system("bench"))[1]
        client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
        url = "/v1/autodoc/invitations"
        serial = iter(range(10**9))

        def items() -> list[dict]:
            return [
                {"channel": "email", "recipient": f"p{next(serial)}@example.com", "reference": "bench"}
                for _ in range(args.count)
            ]

        def singles() -> None:
            for item in items():
                response = client.post(url, item, content_type="application/json")
                assert response.status_code == 201, response.content

        def one_batch() -> None:
            response = client.post(f"{url}/batch", {"invitations": items()}, content_type="application/json")
            assert response.status_code == 200 and response.json()["created"] == args.count, response.content

        one_batch()  # warm: connections, caches, the default workflow
        singles_runs, batch_runs = [], []
        for _ in range(args.rounds):
            singles_runs.append(measured(singles))
            batch_runs.append(measured(one_batch))
        made = Invitation.objects.count()
    finally:
        harness.tear_down(args.database_url)

    def median(runs, part):
        return statistics.median(run[part] for run in runs)

    print(f"{args.count} invitations a way, {args.rounds} rounds (medians)")
    for name, runs in (("single creates", singles_runs), ("one batch", batch_runs)):
        wall, cpu = median(runs, 0), median(runs, 1)
        print(f"{name}: wall {wall:.2f} s, CPU {cpu:.2f} s ({cpu / args.count * 1000:.2f} ms an invitation)")
    ratio = median(batch_runs, 1) / median(singles_runs, 1)
    wall_ratio = median(batch_runs, 0) / median(singles_runs, 0)
    print(f"batch / singles CPU: {ratio:.3f} (target at most 0.2); wall: {wall_ratio:.3f}")
    print(f"invitations made: {made}")
    print(f"machine: {harness.machine_description()}")


if __name__ == "__main__":
    main()
