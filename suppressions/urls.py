from django.urls import path

from suppressions import apis

urlpatterns = [
    path("suppressions", apis.SuppressionListCreateApi.as_view(), name="suppression-list"),
    path("suppressions/<str:suppression_id>", apis.SuppressionDetailApi.as_view(), name="suppression-detail"),
]
