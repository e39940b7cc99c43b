"""Earlier attempts get what the delivery health figures read: when a delivered (or opened) event
reached them, and their failure's reason in grouped words. The rollups are then filled by the first
refresh (`manage.py refresh_delivery_stats`, or the periodic job)."""

from django.db import migrations
from django.db.models import Min

BATCH = 2000


def backfill(apps, schema_editor):
    from delivery.health import failure_reason

    attempt_model = apps.get_model("delivery", "DeliveryAttempt")
    event_model = apps.get_model("delivery", "ProviderEvent")
    reached = (
        event_model.objects.filter(kind__in=("delivered", "opened"), attempt__isnull=False)
        .exclude(outcome="unmatched")
        .values("attempt_id")
        .annotate(first=Min("received_at"))
        .order_by()
    )
    for row in reached.iterator(chunk_size=BATCH):
        attempt_model.objects.filter(pk=row["attempt_id"], delivered_at__isnull=True).update(delivered_at=row["first"])
    failing = attempt_model.objects.filter(status__in=("failed", "retrying")).exclude(error_message="")
    batch = []
    for attempt in failing.only("pk", "error_message").iterator(chunk_size=BATCH):
        attempt.failure_reason = failure_reason(attempt.error_message)
        batch.append(attempt)
        if len(batch) >= BATCH:
            attempt_model.objects.bulk_update(batch, ["failure_reason"])
            batch = []
    attempt_model.objects.bulk_update(batch, ["failure_reason"])


class Migration(migrations.Migration):
    dependencies = [("delivery", "0008_delivery_health")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
