"""`manage.py requeue_deliveries`: the outbox sweep, by hand (the sweeper runs it periodically)."""

from django.core.management.base import BaseCommand, CommandError

from delivery.services import delivery_attempts_requeue_stale


class Command(BaseCommand):
    help = (
        "Enqueue again the delivery attempts that are stuck: queued past the grace period (Redis was "
        "down at commit, or the job was lost), retries overdue, or sending with a vanished worker."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="List what would be enqueued; change nothing.")
        parser.add_argument("--limit", type=int, default=1000, help="At most this many attempts per run.")

    def handle(self, *args, dry_run: bool, limit: int, **options):
        result = delivery_attempts_requeue_stale(dry_run=dry_run, limit=limit)
        verb = "Would enqueue" if dry_run else "Enqueued"
        self.stdout.write(
            f"{verb} {result.found if dry_run else result.enqueued} delivery attempts "
            f"(queued: {len(result.queued)}, retry overdue: {len(result.retrying)}, "
            f"stuck sending: {len(result.sending)})."
        )
        if result.not_enqueued:
            raise CommandError(
                f"Could not enqueue {len(result.not_enqueued)} attempts (is Redis reachable?); "
                "they stay in the outbox for the next run."
            )
