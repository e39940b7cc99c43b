from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"

    def ready(self) -> None:
        # The event's OpenAPI description (drf-spectacular finds extensions once they are imported).
        from webhooks import schema  # noqa: F401
