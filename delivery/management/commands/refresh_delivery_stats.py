"""`manage.py refresh_delivery_stats`: the delivery health rollups brought up to date by hand (the
periodic job does it every DELIVERY_STATS_INTERVAL_SECONDS), or recomputed whole with --full."""

from django.core.management.base import BaseCommand

from delivery.services.rollups import delivery_stats_refresh


class Command(BaseCommand):
    help = (
        "Recompute the delivery health figures for every hour whose send attempts changed since the last "
        "refresh (--full: every hour that holds an attempt)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--full", action="store_true", help="Recompute every hour, not only those changed.")

    def handle(self, *args, full: bool, **options):
        result = delivery_stats_refresh(full=full)
        self.stdout.write(
            f"Recomputed {result.hours} hour(s) from {result.attempts} send attempts in {result.seconds:.1f} s."
        )
