"""rq jobs of the `webhooks` queue: thin; the rows say what is left to do."""

from jobs.workers import database_job
from webhooks.dispatch import webhook_deliveries_dispatch
from webhooks.services import webhook_outbox_sweep


@database_job
def dispatch_webhooks() -> int:
    return webhook_deliveries_dispatch()


def sweep_webhooks() -> dict:
    """The periodic outbox sweep of webhooks (see delivery/cron.py)."""
    return webhook_outbox_sweep()
