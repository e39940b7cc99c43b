"""What one request or one delivery costs on its own, in-process and one at a time: no server, no
concurrency, warm database connections. Explains the figures of the load benchmarks.

    .venv/bin/python bench/request_cost.py --repeat 100

Prints milliseconds per authenticated GET, per resend (through Django's test client, whole
middleware and DRF stack), per delivery job with a warm database connection, and per delivery job
that opens its own connection first, as a job in a freshly forked rq work horse does.

Then what the request log (its entry appended to the Redis stream) and the Idempotency-Key check
(a claim INSERT, the stored answer UPDATE) add: a GET and a resend timed with the log switched off
in this process, with it on, and a resend with a key as well. The kinds take turns in small rounds,
so a drift of the machine's speed falls on all of them alike.
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness


def per_call_ms(func, items) -> float:
    items = list(items)
    started = time.perf_counter()
    for item in items:
        func(item)
    return (time.perf_counter() - started) / len(items) * 1000


def interleaved_ms(kinds: dict, items: dict, rounds: int = 30) -> dict[str, float]:
    """Time each kind over its own items, the kinds taking turns in ``rounds`` slices."""
    totals = dict.fromkeys(kinds, 0.0)
    counts = dict.fromkeys(kinds, 0)
    for round_number in range(rounds):
        for name, func in kinds.items():
            chunk = items[name][round_number::rounds]
            if not chunk:
                continue
            totals[name] += per_call_ms(func, chunk) * len(chunk)
            counts[name] += len(chunk)
    return {name: totals[name] / max(counts[name], 1) for name in kinds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=100, help="timed calls of each kind (default 100)")
    parser.add_argument("--database-url", default=harness.DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default=harness.DEFAULT_REDIS_URL)
    args = parser.parse_args()
    warmup, n = 20, args.repeat

    env = harness.bench_environment(
        args.database_url,
        args.redis_url,
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        SMS_BACKEND="delivery.sms.LocmemSmsBackend",
        # Every resend here is one organization's, from one address: measure them, not the throttles.
        RESEND_RATE_PER_ORG="1000000/m",
        RESEND_RATE_PER_IP="1000000/m",
    )
    harness.recreate_database(args.database_url)
    try:
        harness.manage("migrate", "--noinput", "-v0", env=env)
        harness.setup_django()
        import django_rq
        from django.db import connection
        from django.test import Client

        import requestlog.middleware
        from bench import delivery_throughput, resend_load
        from delivery.jobs import deliver_attempt
        from requestlog.store import request_log_flush, request_log_record

        django_rq.get_connection("delivery").flushdb()
        client_data = resend_load.seed(clients=1, requests=warmup + 4 * n)[0]
        client = Client(HTTP_AUTHORIZATION=f"Bearer {client_data['key']}")
        detail = f"/v1/autodoc/invitations/{client_data['get_token']}"

        def get(_):
            assert client.get(detail).status_code == 200

        def resend(token):
            assert client.post(f"/v1/autodoc/invitations/{token}/resend").status_code == 200

        def deliver_on_new_connection(attempt_id):
            connection.close()
            deliver_attempt(attempt_id)

        def logged(enabled: bool, func):
            def call(item):
                requestlog.middleware.request_log_record = request_log_record if enabled else lambda **_: None
                func(item)

            return call

        def resend_with_key(token):
            response = client.post(
                f"/v1/autodoc/invitations/{token}/resend",
                content_type="application/json",
                HTTP_IDEMPOTENCY_KEY=f"k-{token}",
            )
            assert response.status_code == 200

        attempts = delivery_throughput.seed(attempts=warmup + 2 * n, organizations=2)
        tokens = client_data["resend_tokens"]
        per_call_ms(get, range(warmup))
        per_call_ms(resend, tokens[:warmup])
        per_call_ms(deliver_attempt, attempts[:warmup])
        figures = {
            "GET one invitation": per_call_ms(get, range(n)),
            "resend": per_call_ms(resend, tokens[warmup : warmup + n]),
            "delivery job, warm connection": per_call_ms(deliver_attempt, attempts[warmup : warmup + n]),
            "delivery job, new connection": per_call_ms(deliver_on_new_connection, attempts[warmup + n :]),
        }
        rest = tokens[warmup + n :]
        costs = interleaved_ms(
            {
                "GET, request log off": logged(False, get),
                "GET, request log on": logged(True, get),
                "resend, request log off": logged(False, resend),
                "resend, request log on": logged(True, resend),
                "resend, log and Idempotency-Key": logged(True, resend_with_key),
            },
            {
                "GET, request log off": range(n),
                "GET, request log on": range(n),
                "resend, request log off": rest[0::3],
                "resend, request log on": rest[1::3],
                "resend, log and Idempotency-Key": rest[2::3],
            },
        )
        figures.update(costs)
        moved = request_log_flush()
    finally:
        harness.tear_down(args.database_url)

    for name, ms in figures.items():
        print(f"{name:>32}: {ms:.1f} ms")

    def added(base: str, other: str) -> str:
        return f"{(figures[other] / figures[base] - 1) * 100:+.1f} %"

    print(f"request log on a GET: {added('GET, request log off', 'GET, request log on')}")
    print(f"request log on a resend: {added('resend, request log off', 'resend, request log on')}")
    print(f"Idempotency-Key on a resend: {added('resend, request log on', 'resend, log and Idempotency-Key')}")
    print(f"request log entries written and moved to PostgreSQL: {moved}")
    print(f"machine: {harness.machine_description()}")


if __name__ == "__main__":
    main()
