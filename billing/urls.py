from django.urls import path

from billing import apis

urlpatterns = [
    path("billing/usage", apis.BillingUsageApi.as_view(), name="billing-usage"),
]
