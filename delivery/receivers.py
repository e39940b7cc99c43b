"""Signal receivers: thin doors into delivery services (no rules here)."""

from anymail.signals import tracking
from django.dispatch import receiver

from delivery.services import delivery_email_event_record


@receiver(tracking, dispatch_uid="delivery.anymail_tracking")
def anymail_tracking_received(sender, event, esp_name, **kwargs) -> None:
    delivery_email_event_record(event=event, esp_name=esp_name)
