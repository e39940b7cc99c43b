import os
from pathlib import Path

from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class OpsConfig(AppConfig):
    """Operations: health, metrics, logs, error reporting. What starts with the process starts here,
    not in the settings (which only read the environment): the metrics directory, checked and handed
    to prometheus_client, and Sentry. First in INSTALLED_APPS, so this runs before any other app's
    code imports prometheus_client."""

    name = "ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        from ops.checks import private_directory

        if settings.PROMETHEUS_MULTIPROC_DIR:
            problem = private_directory(Path(settings.PROMETHEUS_MULTIPROC_DIR))
            if problem:
                raise ImproperlyConfigured(f"PROMETHEUS_MULTIPROC_DIR {problem}")
            # prometheus_client reads it when first imported: ops.metrics is imported only after this.
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = settings.PROMETHEUS_MULTIPROC_DIR
        if settings.SENTRY_DSN:
            from ops.sentry import sentry_init

            sentry_init(
                dsn=settings.SENTRY_DSN, environment=settings.SENTRY_ENVIRONMENT, release=settings.SENTRY_RELEASE
            )
