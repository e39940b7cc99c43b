from django.apps import AppConfig


class RequestlogConfig(AppConfig):
    name = "requestlog"
    verbose_name = "API requests"
