from django.apps import AppConfig


class DeliveryConfig(AppConfig):
    name = "delivery"

    def ready(self) -> None:
        from delivery.providers import anymail  # noqa: F401  (connects the anymail tracking receiver)
