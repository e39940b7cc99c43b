"""The webhooks REST API: thin views over the webhooks services and selectors. Every read and change
stays within the caller's organization and mode; viewers read only."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from accounts.permissions import RoleAllowsMethod
from api.filters import filter_parameters
from api.openapi import error_responses
from api.pagination import PageQuerySerializer, page_of_query, page_schema
from api.throttling import WEBHOOK_ACTION_PER_ORGANIZATION, WEBHOOK_ENDPOINT_WRITE_PER_ORGANIZATION
from api.views import ApiView
from webhooks import selectors, services
from webhooks.filters import EventFilter
from webhooks.serializers import (
    EndpointCreateInputSerializer,
    EndpointOutputSerializer,
    EndpointUpdateInputSerializer,
    EndpointWithSecretSerializer,
    EventOutputSerializer,
    QueuedSerializer,
    RecoverInputSerializer,
    RedeliverInputSerializer,
    SecretOutputSerializer,
    TryOutputSerializer,
    endpoint_to_dict,
)


class WebhooksBaseApi(ApiView):
    permission_classes = [IsAuthenticated, RoleAllowsMethod]

    def endpoint(self, request, endpoint_id: str):
        principal = request.user
        return selectors.webhook_endpoint_get(
            organization=principal.organization, livemode=principal.livemode, public_id=endpoint_id
        )

    @staticmethod
    def parsed(serializer_class, data) -> dict:
        serializer = serializer_class(data=data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


class EndpointListCreateApi(WebhooksBaseApi):
    # A new endpoint's address is looked up in DNS: one bucket per organization and mode.
    rate_limits = {"POST": (WEBHOOK_ENDPOINT_WRITE_PER_ORGANIZATION,)}
    idempotency_omits = ("secret",)

    @extend_schema(
        operation_id="webhook_endpoints_list",
        summary="List webhook endpoints, newest first",
        parameters=[PageQuerySerializer],
        responses={200: page_schema("WebhookEndpointPage", EndpointOutputSerializer), **error_responses(400, 422)},
    )
    def get(self, request):
        principal = request.user
        qs = selectors.webhook_endpoint_list(organization=principal.organization, livemode=principal.livemode)
        rows, pagination = page_of_query(qs, request.query_params)
        return Response({"data": EndpointOutputSerializer(rows, many=True).data, "pagination": pagination})

    @extend_schema(
        operation_id="webhook_endpoints_create",
        summary="Register an HTTPS endpoint; its signing secret is shown only in this answer",
        request=EndpointCreateInputSerializer,
        responses={201: EndpointWithSecretSerializer, **error_responses(400, 403, 415, 422, 429)},
    )
    def post(self, request):
        data = self.parsed(EndpointCreateInputSerializer, request.data)
        principal = request.user
        endpoint, secret = services.webhook_endpoint_create(
            organization=principal.organization, livemode=principal.livemode, **data
        )
        return Response(endpoint_to_dict(endpoint, secret=secret), status=status.HTTP_201_CREATED)


class EndpointDetailApi(WebhooksBaseApi):
    rate_limits = {"PATCH": (WEBHOOK_ENDPOINT_WRITE_PER_ORGANIZATION,)}

    @extend_schema(
        operation_id="webhook_endpoints_retrieve", responses={200: EndpointOutputSerializer, **error_responses(404)}
    )
    def get(self, request, endpoint_id: str):
        return Response(endpoint_to_dict(self.endpoint(request, endpoint_id)))

    @extend_schema(
        operation_id="webhook_endpoints_update",
        request=EndpointUpdateInputSerializer,
        responses={200: EndpointOutputSerializer, **error_responses(400, 403, 404, 415, 422, 429)},
    )
    def patch(self, request, endpoint_id: str):
        endpoint = self.endpoint(request, endpoint_id)
        data = self.parsed(EndpointUpdateInputSerializer, request.data)
        return Response(endpoint_to_dict(services.webhook_endpoint_update(endpoint=endpoint, **data)))

    @extend_schema(operation_id="webhook_endpoints_destroy", responses={204: None, **error_responses(403, 404)})
    def delete(self, request, endpoint_id: str):
        services.webhook_endpoint_delete(endpoint=self.endpoint(request, endpoint_id), actor=request.user.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


class EndpointRotateSecretApi(WebhooksBaseApi):
    idempotency_omits = ("secret",)

    @extend_schema(
        operation_id="webhook_endpoints_rotate_secret",
        request=None,
        responses={200: SecretOutputSerializer, **error_responses(403, 404)},
    )
    def post(self, request, endpoint_id: str):
        secret = services.webhook_endpoint_rotate_secret(endpoint=self.endpoint(request, endpoint_id))
        return Response({"secret": secret})


class EndpointTestApi(WebhooksBaseApi):
    # Each sends at once what the caller names: one bucket per organization and mode for all three.
    rate_limits = {"POST": (WEBHOOK_ACTION_PER_ORGANIZATION,)}

    @extend_schema(
        operation_id="webhook_endpoints_test",
        request=None,
        responses={202: EventOutputSerializer, **error_responses(403, 404, 429)},
    )
    def post(self, request, endpoint_id: str):
        event = services.webhook_endpoint_test(endpoint=self.endpoint(request, endpoint_id))
        return Response(EventOutputSerializer(event).data, status=status.HTTP_202_ACCEPTED)


class EndpointDeliveriesApi(WebhooksBaseApi):
    @extend_schema(
        operation_id="webhook_endpoints_deliveries",
        summary="Every try to this endpoint, newest first",
        parameters=[PageQuerySerializer],
        responses={200: page_schema("WebhookDeliveryPage", TryOutputSerializer), **error_responses(400, 404, 422)},
    )
    def get(self, request, endpoint_id: str):
        endpoint = self.endpoint(request, endpoint_id)
        rows, pagination = page_of_query(selectors.webhook_endpoint_tries(endpoint=endpoint), request.query_params)
        return Response({"data": TryOutputSerializer(rows, many=True).data, "pagination": pagination})


class EndpointRecoverApi(WebhooksBaseApi):
    # Each sends at once what the caller names: one bucket per organization and mode for all three.
    rate_limits = {"POST": (WEBHOOK_ACTION_PER_ORGANIZATION,)}

    @extend_schema(
        operation_id="webhook_endpoints_recover",
        request=RecoverInputSerializer,
        responses={202: QueuedSerializer, **error_responses(400, 403, 404, 415, 422, 429)},
    )
    def post(self, request, endpoint_id: str):
        endpoint = self.endpoint(request, endpoint_id)
        since = self.parsed(RecoverInputSerializer, request.data)["since"]
        queued = services.webhook_endpoint_recover(endpoint=endpoint, since=since)
        return Response({"queued": queued}, status=status.HTTP_202_ACCEPTED)


class EventListApi(WebhooksBaseApi):
    @extend_schema(
        operation_id="events_list",
        summary="Events, newest first (kept 30 days)",
        parameters=[PageQuerySerializer, *filter_parameters(EventFilter)],
        responses={200: page_schema("WebhookEventPage", EventOutputSerializer), **error_responses(400, 422)},
    )
    def get(self, request):
        principal = request.user
        qs = selectors.webhook_event_list(organization=principal.organization, livemode=principal.livemode)
        rows, pagination = page_of_query(qs, request.query_params, filterset_class=EventFilter)
        return Response({"data": EventOutputSerializer(rows, many=True).data, "pagination": pagination})


class EventBaseApi(WebhooksBaseApi):
    def event(self, request, event_id: str):
        principal = request.user
        return selectors.webhook_event_get(
            organization=principal.organization, livemode=principal.livemode, public_id=event_id
        )


class EventDetailApi(EventBaseApi):
    @extend_schema(operation_id="events_retrieve", responses={200: EventOutputSerializer, **error_responses(404)})
    def get(self, request, event_id: str):
        return Response(EventOutputSerializer(self.event(request, event_id)).data)


class EventRedeliverApi(EventBaseApi):
    # Each sends at once what the caller names: one bucket per organization and mode for all three.
    rate_limits = {"POST": (WEBHOOK_ACTION_PER_ORGANIZATION,)}

    @extend_schema(
        operation_id="events_redeliver",
        request=RedeliverInputSerializer,
        responses={202: QueuedSerializer, **error_responses(400, 403, 404, 415, 422, 429)},
    )
    def post(self, request, event_id: str):
        event = self.event(request, event_id)
        # No body is {}; any other body must be an object (false or [] is a 400).
        data = self.parsed(RedeliverInputSerializer, request.data)
        endpoint = self.endpoint(request, data["endpoint"]) if data.get("endpoint") else None
        queued = services.webhook_event_redeliver(event=event, endpoint=endpoint)
        return Response({"queued": queued}, status=status.HTTP_202_ACCEPTED)
