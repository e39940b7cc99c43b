from django.contrib import admin
from django.http import JsonResponse
from django.urls import include, path
from django.views import defaults
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerSplitView

from api.errors import InvalidRequest, NotFound, json_error, server_error_body
from delivery import health_admin
from ops import health
from ops.metrics import metrics_view

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("admin/rq/", include("django_rq.urls")),
    # The console's Delivery health page, beside the admin's own pages and behind its login.
    path("admin/delivery/health/", admin.site.admin_view(health_admin.health_view), name="delivery-health"),
    path(
        "admin/delivery/health/send-again/",
        admin.site.admin_view(health_admin.send_again_view),
        name="delivery-health-send-again",
    ),
    path("admin/", admin.site.urls),
    path("v1/", include("invitations.urls")),
    path("v1/", include("accounts.urls")),
    path("v1/", include("billing.urls")),
    path("v1/", include("suppressions.urls")),
    path("v1/", include("webhooks.urls")),
    path("v1/", include("requestlog.urls")),
    path("v1/", include("delivery.api_urls")),
    path("webhooks/", include("delivery.urls")),
    path("", include("invitations.public_urls")),
    path("v1/openapi.json", SpectacularJSONAPIView.as_view(), name="openapi-schema"),
    # The split view serves Swagger UI's start-up script as a file, so the page needs no inline script
    # (the Content-Security-Policy allows none).
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="openapi-schema"), name="api-reference"),
]


def _is_api(request) -> bool:
    return request.path.startswith("/v1/")


def handler400(request, exception=None):
    if _is_api(request):
        return json_error(InvalidRequest())
    return defaults.bad_request(request, exception)


def handler404(request, exception=None):
    if _is_api(request):
        return json_error(NotFound())
    return defaults.page_not_found(request, exception)


def handler500(request):
    if _is_api(request):
        return JsonResponse(server_error_body(), status=500)
    return defaults.server_error(request)
