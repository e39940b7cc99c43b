from django.urls import path

from invitations import apis

urlpatterns = [
    path("autodoc/invitations", apis.InvitationListCreateApi.as_view(), name="invitation-list"),
    # Before the token's path, which "batch" would match.
    path("autodoc/invitations/batch", apis.InvitationBatchCreateApi.as_view(), name="invitation-batch"),
    path("autodoc/invitations/<str:token>", apis.InvitationDetailApi.as_view(), name="invitation-detail"),
    path("autodoc/invitations/<str:token>/resend", apis.InvitationResendApi.as_view(), name="invitation-resend"),
    path("autodoc/invitations/<str:token>/cancel", apis.InvitationCancelApi.as_view(), name="invitation-cancel"),
    path("autodoc/invitations/<str:token>/attempts", apis.InvitationAttemptsApi.as_view(), name="invitation-attempts"),
    path("autodoc/invitations/<str:token>/history", apis.InvitationHistoryApi.as_view(), name="invitation-history"),
]
