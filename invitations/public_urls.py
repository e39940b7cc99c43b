"""Public URLs outside the /v1 API: the recipient's link and the dossier event endpoint."""

from django.urls import path

from invitations import views, webhooks

urlpatterns = [
    path("i/<str:token>", views.invitation_link, name="invitation-link"),
    path("webhooks/dossier", webhooks.dossier_event_webhook, name="dossier-event-webhook"),
]
