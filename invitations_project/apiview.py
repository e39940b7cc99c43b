"""The base of every /v1 view: Idempotency-Key on POST, the rate-limit buckets and their headers, and
the caller named in the request's log lines."""

from rest_framework.views import APIView

from accounts.principals import Principal
from invitations_project.request_context import log_context_add
from invitations_project.throttling import RateLimitedApiMixin
from requestlog.idempotency import IdempotentApiMixin


class ApiView(IdempotentApiMixin, RateLimitedApiMixin, APIView):
    def perform_authentication(self, request):
        super().perform_authentication(request)
        principal = request.user
        if type(principal) is Principal:
            log_context_add(organization=principal.organization.slug, credential=principal.actor.label)
