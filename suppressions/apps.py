from django.apps import AppConfig


class SuppressionsConfig(AppConfig):
    name = "suppressions"

    def ready(self) -> None:
        from suppressions.services import EVENT_TYPES
        from webhooks.events import register_event_types

        register_event_types(EVENT_TYPES, data="suppressions.serializers.SuppressionEventDataSerializer")
