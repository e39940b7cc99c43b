"""Delivery health at scale: GET /v1/stats and the console's /admin/delivery/health/ with N send
attempts in the period, and what keeping the rollups up to date costs.

    .venv/bin/python bench/delivery_health.py --attempts 1000000

One organization's N live attempts queued over the last 23 hours (all in the 24-hour period), plus
N/20 sandbox ones and N/20 of another organization, written by the bulk loader (bench/seeding.py
``delivery_history``), then the rollups filled by the product's own full refresh
(``manage.py refresh_delivery_stats --full``).
Prints the median and the slowest of --repeat answers of each kind in milliseconds, through Django's
test client (the whole middleware and DRF or admin stack), with the figures fresh (the periodic
job's case); then the refresh after a minute's changes (N/1440 attempts of the current hour
delivered), the periodic job's cost, and a read that has to refresh first (no scheduler running).
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness, seeding


def timed_ms(func, repeat: int) -> tuple[float, float]:
    """(median, slowest) milliseconds of ``repeat`` calls after one to warm up."""
    func()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        func()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), max(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--attempts", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--database-url", default=harness.DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default=harness.DEFAULT_REDIS_URL)
    args = parser.parse_args()
    env = harness.bench_environment(
        args.database_url, args.redis_url, RATELIMIT_ENABLE="0", DELIVERY_STATS_INTERVAL_SECONDS="60"
    )
    harness.recreate_database(args.database_url)
    try:
        harness.manage("migrate", "--noinput", "-v0", env=env)
        harness.setup_django()
        from django.conf import settings
        from django.contrib.auth import get_user_model
        from django.test import Client
        from django.utils import timezone

        from accounts.principals import Actor
        from accounts.services import api_key_create, organization_create
        from delivery.models import DeliveryAttempt
        from delivery.services.rollups import delivery_stats_refresh

        actor = Actor.system("bench")
        organization = organization_create(slug="scale", name="Scale", actor=actor)
        other = organization_create(slug="other", name="Other", actor=actor)
        key = api_key_create(organization=organization, livemode=True, name="bench", actor=actor)[1]
        started = time.perf_counter()
        seeding.delivery_history(organization, args.attempts, hours=23)
        seeding.delivery_history(organization, max(1, args.attempts // 20), livemode=False)
        seeding.delivery_history(other, max(1, args.attempts // 20))
        total, seconds = DeliveryAttempt.objects.count(), time.perf_counter() - started
        print(f"seeded {total} attempts ({args.attempts} live of one organization) in {seconds:.0f} s")
        full = delivery_stats_refresh(full=True)
        print(f"full refresh: {full.hours} hours from {full.attempts} attempts in {full.seconds:.1f} s")

        api = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
        staff = Client()
        staff.force_login(get_user_model().objects.create_superuser("bench", "bench@example.com", "x" * 20))

        def stats(period: str):
            def call():
                response = api.get("/v1/stats", {"period": period})
                assert response.status_code == 200, response.content
                return response.json()

            return call

        def page(query: str):
            def call():
                response = staff.get(f"/admin/delivery/health/?{query}")
                assert response.status_code == 200, response.content[:500]
                response.render() if hasattr(response, "render") else None

            return call

        body = stats("24h")()
        email = body["byChannel"]["email"]
        counted = sum(
            sum(c[k] for k in ("accepted", "delivered", "bounced", "failed")) for c in body["byChannel"].values()
        )
        print(
            f"/v1/stats 24h counts {counted} attempts; email delivery rate {email['deliveryRate']}, "
            f"bounce rate {email['bounceRate']}; timeToAccepted {body['timeToAccepted']}, "
            f"timeToDelivered {body['timeToDelivered']}; {len(body['topFailureReasons'])} reasons"
        )
        figures = {
            "GET /v1/stats?period=24h": timed_ms(stats("24h"), args.repeat),
            "GET /v1/stats?period=7d": timed_ms(stats("7d"), args.repeat),
            "GET /v1/stats?period=30d": timed_ms(stats("30d"), args.repeat),
            "health page, 24h, all": timed_ms(page("period=24h&mode=live"), args.repeat),
            "health page, 30d, all": timed_ms(page("period=30d&mode=live"), args.repeat),
            f"health page, 24h, {organization.slug}": timed_ms(
                page(f"period=24h&mode=live&organization={organization.pk}"), args.repeat
            ),
        }
        # A minute of changes at this rate: that many of the current hour's attempts delivered now.
        now = timezone.now()
        changed = max(1, args.attempts // 1440)
        recent = DeliveryAttempt.objects.filter(
            created_at__gte=now.replace(minute=0, second=0, microsecond=0), delivered_at__isnull=True
        ).values_list("pk", flat=True)[:changed]
        DeliveryAttempt.objects.filter(pk__in=list(recent)).update(delivered_at=now, updated_at=now)
        periodic = delivery_stats_refresh()
        print(
            f"periodic refresh after {changed} changes: {periodic.hours} hours from {periodic.attempts} "
            f"attempts in {periodic.seconds * 1000:.0f} ms"
        )
        settings.DELIVERY_STATS_INTERVAL_SECONDS = 0  # every read finds the figures stale: it refreshes first
        figures["GET /v1/stats?period=24h, refreshing first"] = timed_ms(stats("24h"), args.repeat)
    finally:
        harness.tear_down(args.database_url)

    for name, (median, slowest) in figures.items():
        print(f"{name:>44}: median {median:.1f} ms, slowest {slowest:.1f} ms")
    print(f"machine: {harness.machine_description()}")


if __name__ == "__main__":
    main()
