"""The base of every /v1 view: Idempotency-Key on POST (and PATCH where a view allows it), the
rate-limit buckets and their headers."""

from rest_framework.views import APIView

from api.idempotency import IdempotentApiMixin
from api.throttling import RateLimitedApiMixin


class ApiView(IdempotentApiMixin, RateLimitedApiMixin, APIView):
    pass
