"""The base of every /v1 view: Idempotency-Key on POST, the rate-limit buckets and their headers."""

from rest_framework.views import APIView

from invitations_project.throttling import RateLimitedApiMixin
from requestlog.idempotency import IdempotentApiMixin


class ApiView(IdempotentApiMixin, RateLimitedApiMixin, APIView):
    pass
