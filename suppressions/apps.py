from django.apps import AppConfig


class SuppressionsConfig(AppConfig):
    name = "suppressions"

    def ready(self) -> None:
        from suppressions.services import SUPPRESSION_EVENT_TYPES
        from webhooks.events import register_event_types

        register_event_types(SUPPRESSION_EVENT_TYPES, data="suppressions.serializers.SuppressionEventDataSerializer")
