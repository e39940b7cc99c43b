from django.urls import path

from requestlog import apis

urlpatterns = [
    path("requests", apis.RequestLogListApi.as_view(), name="request-log-list"),
]
