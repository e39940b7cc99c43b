from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Organizations and keys"

    def ready(self):
        # Registers how the authentication classes appear in the OpenAPI description.
        from accounts import schema  # noqa: F401
