"""Benchmark: N eligible invitations through `manage.py resend_invitations`, enqueue included.

Prints invitations per second and, measured in the same run on the same rows, the ratio to a
plain SQL UPDATE that only flips them to pending (no rules, no audit rows, no attempts, no jobs).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/inv_bench REDIS_URL=redis://127.0.0.1:6379/5 \\
        .venv/bin/python bench/bulk_resend.py [--count 100000] [--batch-size 500]

It creates its own database (the DATABASE_URL name + "_bulk_resend_bench", dropped at the end)
and empties the `delivery` queue of the Redis database in REDIS_URL before and after: give it a
Redis database nothing else uses.
"""

import argparse
import io
import json
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "invitations_project.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-Kq7vR2mX9pL4wZ8nB3cT6yH1")

import django

django.setup()

import django_rq  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.models import Organization  # noqa: E402
from bench import seeding  # noqa: E402
from delivery.models import DeliveryAttempt  # noqa: E402
from invitations.models import Invitation, InvitationEvent  # noqa: E402

TABLE = Invitation._meta.db_table


def reset_to_sent(organization: Organization) -> None:
    sent_at = timezone.now() - timedelta(hours=20)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {TABLE} SET status = 'sent', sent_at = %s, delivery_attempts = 1 WHERE organization_id = %s",
            [sent_at, organization.pk],
        )
        cursor.execute(f"VACUUM ANALYZE {TABLE}")


def time_plain_update(organization: Organization) -> tuple[float, int]:
    """The floor: one UPDATE flipping the same rows to pending, committed."""
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {TABLE} SET status = 'pending', sent_at = NULL, delivery_attempts = delivery_attempts + 1,
                error_message = '', updated_at = now()
            WHERE organization_id = %s AND status = 'sent'
            """,
            [organization.pk],
        )
        rows = cursor.rowcount
    return time.perf_counter() - started, rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=500, help="The command's own default.")
    args = parser.parse_args()
    if not (settings.DATABASES["default"]["ENGINE"].endswith("postgresql") and settings.REDIS_URL):
        print("Set DATABASE_URL (PostgreSQL) and REDIS_URL.", file=sys.stderr)
        return 2

    test_settings = settings.DATABASES["default"]["TEST"]
    test_settings["NAME"] = settings.DATABASES["default"]["NAME"] + "_bulk_resend_bench"
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    queue = django_rq.get_queue("delivery", commit_mode="auto")
    queue.empty()
    try:
        organization = Organization.objects.create(slug="bench", name="Bench")
        t = time.perf_counter()
        seeding.sent_invitations(organization, args.count, channel="sms")
        print(f"setup: {args.count:,} eligible invitations in {time.perf_counter() - t:.1f}s")

        reset_to_sent(organization)
        update_seconds, updated = time_plain_update(organization)
        assert updated == args.count, updated
        reset_to_sent(organization)

        out = io.StringIO()
        started = time.perf_counter()
        call_command(
            "resend_invitations",
            "--org",
            organization.slug,
            "--batch-size",
            str(args.batch_size),
            "--json",
            stdout=out,
            stderr=io.StringIO(),
        )
        command_seconds = time.perf_counter() - started
        summary = json.loads(out.getvalue())

        resent = summary["counts"]["resent"]
        jobs = queue.count
        # A batch's job names DELIVERY_BATCH_SIZE attempts; together they name each attempt once.
        named = [pk for job in queue.get_jobs() for pk in job.args[0]]
        checks = {
            "resent": resent == args.count,
            "jobs on the delivery queue name every attempt once": sorted(named)
            == sorted(DeliveryAttempt.objects.filter(number=2).values_list("pk", flat=True)),
            "delivery attempts": DeliveryAttempt.objects.filter(number=2).count() == args.count,
            "audit rows": InvitationEvent.objects.filter(reason="resend").count() == args.count,
            "invitations pending": Invitation.objects.filter(status="pending").count() == args.count,
        }
        rate = resent / command_seconds
        print(
            f"command: {resent:,} resent, {jobs:,} batch jobs enqueued in {command_seconds:.2f}s "
            f"= {rate:,.0f} invitations/s"
        )
        print(f"plain SQL UPDATE of the same rows: {update_seconds:.3f}s = {args.count / update_seconds:,.0f} rows/s")
        print(f"ratio: the command takes {command_seconds / update_seconds:.1f}x the plain UPDATE's time")
        print(f"target >= 1,000 invitations/s: {'met' if rate >= 1000 else 'NOT met'}")
        for name, ok in checks.items():
            print(f"check {name}: {'ok' if ok else 'FAILED'}")
        return 0 if all(checks.values()) else 1
    finally:
        queue.empty()
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    sys.exit(main())
