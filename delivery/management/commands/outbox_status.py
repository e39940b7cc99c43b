"""How the outboxes are doing, for an operator or a monitoring check:

    python manage.py outbox_status [--stuck-after 600] [--json]

Counts of delivery attempts and webhook deliveries by state, the oldest queued attempt, the rq
queues' depths and the workers rq has seen. Exits 1 when something has been waiting longer than
``--stuck-after`` seconds or Redis cannot be reached (a check to run from cron), else 0.
"""

import json
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from redis.exceptions import RedisError
from rq import Queue, Worker

from delivery.models import DeliveryAttempt
from delivery.selectors import delivery_attempts_by_status, delivery_attempts_stuck
from jobs.queueing import redis_for
from webhooks.selectors import webhook_deliveries_by_status, webhook_deliveries_stuck

QUEUES = ("delivery", "delivery-sandbox", "webhooks", "default")


def _rq_state() -> dict:
    try:
        connection = redis_for("delivery")
        return {
            "queues": {name: Queue(name, connection=redis_for(name)).count for name in QUEUES},
            "workers": len(Worker.all(connection=connection)),
        }
    except RedisError as exc:
        return {"error": f"Redis unreachable: {exc}"}


class Command(BaseCommand):
    help = "Counts of both outboxes by state, queue depths and workers; exits 1 when something is stuck."

    def add_arguments(self, parser):
        parser.add_argument("--stuck-after", type=int, default=600, help="Seconds after which waiting is stuck.")
        parser.add_argument("--json", action="store_true", help="Print the figures as JSON.")

    def handle(self, *args, stuck_after: int, **options):
        as_json = options["json"]
        now = timezone.now()
        older_than = timedelta(seconds=stuck_after)
        oldest = DeliveryAttempt.objects.filter(status=DeliveryAttempt.Status.QUEUED).order_by("created_at").first()
        status: dict[str, Any] = {
            "attempts": delivery_attempts_by_status(),
            "attempts_stuck": delivery_attempts_stuck(now=now, older_than=older_than).count(),
            "oldest_queued_seconds": round((now - oldest.created_at).total_seconds()) if oldest else None,
            "webhook_deliveries": webhook_deliveries_by_status(),
            "webhook_deliveries_stuck": webhook_deliveries_stuck(now=now, older_than=older_than).count(),
            "rq": _rq_state(),
        }
        if as_json:
            self.stdout.write(json.dumps(status, indent=2))
        else:
            self._print(status)
        problems = []
        if status["attempts_stuck"]:
            problems.append(f"{status['attempts_stuck']} delivery attempt(s) waiting over {stuck_after} s")
        if status["webhook_deliveries_stuck"]:
            problems.append(f"{status['webhook_deliveries_stuck']} webhook delivery(ies) waiting over {stuck_after} s")
        if "error" in status["rq"]:
            problems.append(status["rq"]["error"])
        if problems:
            raise CommandError("; ".join(problems) + ". Is Redis up, and are the workers and the sweeper running?")

    def _print(self, status: dict) -> None:
        def counts(by_status: dict) -> str:
            return ", ".join(f"{name} {count}" for name, count in sorted(by_status.items())) or "none"

        lines = ["Delivery attempts: " + counts(status["attempts"])]
        lines.append(f"  stuck: {status['attempts_stuck']}, oldest queued: {status['oldest_queued_seconds']} s")
        lines.append("Webhook deliveries: " + counts(status["webhook_deliveries"]))
        lines.append(f"  stuck: {status['webhook_deliveries_stuck']}")
        rq = status["rq"]
        if "error" in rq:
            lines.append(rq["error"])
        else:
            lines.append(
                "Queues: " + ", ".join(f"{k} {v}" for k, v in rq["queues"].items()) + f"; workers: {rq['workers']}"
            )
        self.stdout.write("\n".join(lines))
