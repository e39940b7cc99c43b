"""`manage.py send_scheduled`: queue the scheduled first sends now due, by hand (the periodic job
`invitations.scheduled` runs it every SCHEDULE_SWEEP_INTERVAL_SECONDS). ``--every SECONDS`` keeps
doing it: what `scripts/serve` runs on the embedded default, which has no scheduler."""

import time

from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from invitations.services.schedule import invitations_send_scheduled


class Command(BaseCommand):
    help = "Queue the scheduled first sends (sendAt) that are due now; with --every, again and again."

    def add_arguments(self, parser):
        parser.add_argument("--every", type=float, metavar="SECONDS", help="Run again every SECONDS until stopped.")

    def handle(self, *args, every: float | None, **options):
        if every is not None and every <= 0:
            raise CommandError("--every must be more than 0 seconds.")
        while True:
            queued = invitations_send_scheduled()
            if every is None or queued:
                self.stdout.write(f"Queued {queued} scheduled sends.")
            if every is None:
                return
            connections.close_all()
            time.sleep(every)
