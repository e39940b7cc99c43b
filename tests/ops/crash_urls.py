"""The project's URLs plus one API view that fails, for the error-reporting test."""

from django.urls import path

from api.views import ApiView
from invitations_project.urls import urlpatterns as project_urlpatterns


class CrashApi(ApiView):
    authentication_classes = []
    permission_classes = []

    def get(self, request):
        raise RuntimeError("the provider refused ana@example.com with key private_abcdefghijklmnop1234")


urlpatterns = [path("v1/crash", CrashApi.as_view()), *project_urlpatterns]
