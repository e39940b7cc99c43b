from django.urls import path

from webhooks import apis

urlpatterns = [
    path("webhooks/endpoints", apis.EndpointListCreateApi.as_view(), name="webhook-endpoint-list"),
    path("webhooks/endpoints/<str:endpoint_id>", apis.EndpointDetailApi.as_view(), name="webhook-endpoint-detail"),
    path("webhooks/endpoints/<str:endpoint_id>/rotate-secret", apis.EndpointRotateSecretApi.as_view()),
    path("webhooks/endpoints/<str:endpoint_id>/test", apis.EndpointTestApi.as_view()),
    path("webhooks/endpoints/<str:endpoint_id>/deliveries", apis.EndpointDeliveriesApi.as_view()),
    path("webhooks/endpoints/<str:endpoint_id>/recover", apis.EndpointRecoverApi.as_view()),
    path("events", apis.EventListApi.as_view(), name="event-list"),
    path("events/<str:event_id>", apis.EventDetailApi.as_view(), name="event-detail"),
    path("events/<str:event_id>/redeliver", apis.EventRedeliverApi.as_view()),
]
