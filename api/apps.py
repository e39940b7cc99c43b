from django.apps import AppConfig


class ApiConfig(AppConfig):
    """The API's shared plumbing: the base view, errors and their registry, parsing, fields,
    pagination, OpenAPI, throttles, and the Idempotency-Key store (its one model)."""

    name = "api"
    verbose_name = "API"
