"""GET /v1/requests: the caller's own recent API requests, newest first."""

import logging

from drf_spectacular.utils import extend_schema
from redis.exceptions import RedisError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from api.filters import filter_parameters
from api.openapi import error_responses
from api.pagination import PageQuerySerializer, page_of_query, page_schema
from api.views import ApiView
from requestlog.filters import RequestLogFilter
from requestlog.selectors import request_log_list
from requestlog.serializers import RequestLogEntrySerializer
from requestlog.store import request_log_flush

logger = logging.getLogger(__name__)


class RequestLogListApi(ApiView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="requests_list",
        summary="Recent API requests of this organization and mode, newest first",
        description="Every authenticated /v1/ request, kept REQUEST_LOG_RETENTION_DAYS (14) days: method, path, "
        "status, error type, duration, user agent, IP, the credential's kind and visible label, the Idempotency-Key. "
        "Never a body, never a secret. `invitation` (a token) lists the requests about that invitation.",
        parameters=[PageQuerySerializer, *filter_parameters(RequestLogFilter)],
        responses={200: page_schema("RequestLogPage", RequestLogEntrySerializer), **error_responses(400, 422)},
    )
    def get(self, request):
        try:
            # What waits in the stream is moved first, so a request just made is listed.
            request_log_flush()
        except RedisError as exc:
            logger.warning("Request log stream not read: %s; listing what PostgreSQL holds", exc)
        principal = request.user
        qs = request_log_list(organization=principal.organization, livemode=principal.livemode)
        rows, pagination = page_of_query(qs, request.query_params, filterset_class=RequestLogFilter)
        return Response({"data": RequestLogEntrySerializer(rows, many=True).data, "pagination": pagination})
