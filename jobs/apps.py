from django.apps import AppConfig


class JobsConfig(AppConfig):
    """Work that leaves a transaction: enqueue now or on commit, the worker classes and pools, the
    periodic schedule."""

    name = "jobs"
    verbose_name = "Jobs"
