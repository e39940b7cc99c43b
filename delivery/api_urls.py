"""Delivery's part of the public API, mounted under /v1/."""

from django.urls import path

from delivery import apis

urlpatterns = [
    path("stats", apis.StatsApi.as_view(), name="stats"),
]
