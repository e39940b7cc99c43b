"""The suppression list's REST API: thin views over its selectors and services, within the caller's
organization and mode; viewers read only."""

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from accounts.permissions import RoleAllowsMethod
from api.errors import ValidationFailed
from api.filters import filter_parameters
from api.openapi import error_responses
from api.pagination import PageQuerySerializer, page_of_query, page_schema
from api.throttling import SUPPRESSION_WRITE_PER_ORGANIZATION
from api.validators import normalize_address
from api.views import ApiView
from suppressions.filters import SuppressionFilter
from suppressions.models import Suppression
from suppressions.selectors import suppression_get, suppression_list
from suppressions.serializers import (
    SuppressionCreateInputSerializer,
    SuppressionOutputSerializer,
    suppression_to_dict,
)
from suppressions.services import suppression_add, suppression_lift

ID_PARAMETER = OpenApiParameter("suppression_id", str, OpenApiParameter.PATH, description="sup_…")


class SuppressionBaseApi(ApiView):
    permission_classes = [IsAuthenticated, RoleAllowsMethod]
    # Each write is an event for every subscribed endpoint: one bucket per organization and mode.
    rate_limits = {"POST": (SUPPRESSION_WRITE_PER_ORGANIZATION,), "DELETE": (SUPPRESSION_WRITE_PER_ORGANIZATION,)}


class SuppressionListCreateApi(SuppressionBaseApi):
    @extend_schema(
        operation_id="suppressions_list",
        summary="List suppressed recipients, newest first",
        parameters=[PageQuerySerializer, *filter_parameters(SuppressionFilter)],
        responses={200: page_schema("SuppressionPage", SuppressionOutputSerializer), **error_responses(400, 422)},
    )
    def get(self, request):
        principal = request.user
        qs = suppression_list(organization=principal.organization, livemode=principal.livemode)
        rows, pagination = page_of_query(qs, request.query_params, filterset_class=SuppressionFilter)
        return Response({"data": [suppression_to_dict(row) for row in rows], "pagination": pagination})

    @extend_schema(
        operation_id="suppressions_create",
        summary="Suppress a recipient by hand (reason manual); 200 with the suppression already there",
        request=SuppressionCreateInputSerializer,
        responses={
            201: SuppressionOutputSerializer,
            200: SuppressionOutputSerializer,
            **error_responses(400, 403, 415, 422, 429),
        },
    )
    def post(self, request):
        serializer = SuppressionCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            recipient = normalize_address(data["recipient"])
        except DjangoValidationError as exc:
            raise ValidationFailed(fields={"recipient": list(exc.messages)}) from exc
        principal = request.user
        suppression, created = suppression_add(
            organization_id=principal.organization.pk,
            livemode=principal.livemode,
            channel=Suppression.Channel.EMAIL if "@" in recipient else Suppression.Channel.SMS,
            recipient=recipient,
            reason=Suppression.Reason.MANUAL,
            description=data["description"],
            actor=principal.actor,
        )
        return Response(
            suppression_to_dict(suppression), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class SuppressionDetailApi(SuppressionBaseApi):
    def suppression(self, request, suppression_id: str) -> Suppression:
        principal = request.user
        return suppression_get(
            organization=principal.organization, livemode=principal.livemode, public_id=suppression_id
        )

    @extend_schema(
        operation_id="suppressions_retrieve",
        parameters=[ID_PARAMETER],
        responses={200: SuppressionOutputSerializer, **error_responses(404)},
    )
    def get(self, request, suppression_id: str):
        return Response(suppression_to_dict(self.suppression(request, suppression_id)))

    @extend_schema(
        operation_id="suppressions_delete",
        summary="Lift a suppression: the next send to that recipient may go",
        parameters=[ID_PARAMETER],
        responses={204: None, **error_responses(403, 404, 429)},
    )
    def delete(self, request, suppression_id: str):
        suppression_lift(suppression=self.suppression(request, suppression_id), actor=request.user.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)
