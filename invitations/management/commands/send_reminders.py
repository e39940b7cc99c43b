"""`manage.py send_reminders`: the reminders and expiry warnings now due, by hand (the periodic job
runs it every REMINDER_SWEEP_INTERVAL_SECONDS)."""

from django.core.management.base import BaseCommand

from invitations.services.reminders import invitations_remind


class Command(BaseCommand):
    help = (
        "Send the automatic reminders that are due now, under the resend's rules (the periodic job "
        "`invitations.reminders` does the same every REMINDER_SWEEP_INTERVAL_SECONDS)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500, help="Invitations per transaction.")

    def handle(self, *args, batch_size: int, **options):
        result = invitations_remind(batch_size=batch_size)
        self.stdout.write(
            f"Sent {result.sent} reminders; {result.refused} due ones were refused by a rule "
            "(opened, canceled, expired, capped or suppressed) and get no more."
        )
