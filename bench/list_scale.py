"""Cost at scale: the invitation list at N invitations in one organization (page 1 and page 500), and
the sweeper's scan of N delivery attempts of which a thousand are stale.

    .venv/bin/python bench/list_scale.py --rows 1000000

The rows are written by PostgreSQL itself (generate_series), then VACUUM ANALYZE, as autovacuum
leaves a table that size. Prints the median of --repeat calls of each kind, in milliseconds: the
list through Django's test client (whole middleware and DRF stack, the same authenticated GET a
client makes) and the sweep's stale-attempt query, plus the sweep itself (query and enqueue).
"""

import argparse
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness, seeding

STALE = 1000


def seed(rows: int) -> tuple[str, int]:
    """N sent invitations of one organization, one attempt each (STALE of them queued long ago)."""
    from django.db import connection
    from django.utils import timezone

    from accounts.principals import Actor
    from accounts.services import api_key_create, organization_create
    from delivery.models import DeliveryAttempt
    from invitations.models import Invitation

    actor = Actor.system("bench")
    organization = organization_create(slug="scale", name="Scale", actor=actor)
    key = api_key_create(organization=organization, livemode=True, name="bench", actor=actor)[1]
    seeding.sent_invitations(organization, rows, channel="email", spread=True)
    now = timezone.now()
    invitations, attempts = Invitation._meta.db_table, DeliveryAttempt._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {attempts} (invitation_id, number, channel, recipient, livemode, status, tries,
                provider_message_id, error_message, created_at, updated_at, accepted_at,
                requested_by_kind, requested_by_label)
            SELECT id, 1, 'email', recipient, true,
                CASE WHEN id %% (%s / {STALE}) = 0 THEN 'queued' ELSE 'accepted' END, 1, 'pm-' || id, '',
                created_at, CASE WHEN id %% (%s / {STALE}) = 0 THEN %s ELSE created_at END, created_at,
                'system', 'system:bench'
            FROM {invitations} WHERE organization_id = %s
            """,
            [rows, rows, now - timedelta(hours=1), organization.pk],
        )
        cursor.execute(f"VACUUM ANALYZE {invitations}")
        cursor.execute(f"VACUUM ANALYZE {attempts}")
    return key, rows


def median_ms(func, repeat: int) -> float:
    func()  # warm
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        func()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--database-url", default=harness.DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default=harness.DEFAULT_REDIS_URL)
    args = parser.parse_args()
    env = harness.bench_environment(args.database_url, args.redis_url, RATELIMIT_ENABLE="0")
    harness.recreate_database(args.database_url)
    try:
        harness.manage("migrate", "--noinput", "-v0", env=env)
        harness.setup_django()
        import django_rq
        from django.test import Client
        from django.utils import timezone

        from delivery.selectors import delivery_attempts_stale
        from delivery.services import delivery_attempts_requeue_stale

        django_rq.get_connection("delivery").flushdb()
        started = time.perf_counter()
        key, rows = seed(args.rows)
        print(f"seeded {rows} invitations and attempts in {time.perf_counter() - started:.0f} s")
        client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")

        def page(number: int):
            def call():
                response = client.get("/v1/autodoc/invitations", {"page": number, "per_page": 20})
                assert response.status_code == 200, response.content
                return response.json()

            return call

        first, last = page(1)(), page(500)()
        figures = {
            "list page 1": median_ms(page(1), args.repeat),
            "list page 500": median_ms(page(500), args.repeat),
            "list page 1, status=sent": median_ms(
                lambda: client.get("/v1/autodoc/invitations", {"status": "sent"}), args.repeat
            ),
            "sweep query (stale attempts)": median_ms(
                lambda: list(delivery_attempts_stale(now=timezone.now())), args.repeat
            ),
        }
        sweep_started = time.perf_counter()
        swept = delivery_attempts_requeue_stale()
        figures["sweep, query and enqueue"] = (time.perf_counter() - sweep_started) * 1000
    finally:
        harness.tear_down(args.database_url)

    print(f"page 1: {len(first['data'])} rows, pagination {first['pagination']}")
    print(f"page 500: {len(last['data'])} rows, first token {last['data'][0]['token'] if last['data'] else None}")
    print(f"sweep found {swept.found}, enqueued {swept.enqueued}")
    for name, ms in figures.items():
        print(f"{name:>30}: {ms:.1f} ms")
    print(f"machine: {harness.machine_description()}")


if __name__ == "__main__":
    main()
