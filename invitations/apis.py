"""The REST API: thin views that parse input, call one service or selector, and present it."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from accounts.permissions import RoleAllowsMethod
from api.filters import filter_parameters
from api.openapi import error_responses
from api.pagination import PageQuerySerializer, page_of_query
from api.throttling import (
    BATCH_CREATE_PER_ORGANIZATION,
    CREATE_PER_ORGANIZATION,
    RESEND_PER_IP,
    RESEND_PER_ORGANIZATION,
)
from api.views import ApiView
from delivery.selectors import delivery_attempts_for
from delivery.serializers import AttemptOutputSerializer
from invitations.batch_serializers import (
    BatchCreateDescribedInputSerializer,
    BatchCreateInputSerializer,
    BatchCreateResultSerializer,
)
from invitations.filters import InvitationFilter
from invitations.lifecycle import CANCELABLE, CORRECTABLE, NOT_CANCELABLE, listed
from invitations.schema import (
    CREATE_EXAMPLES,
    TOKEN_PARAMETER,
)
from invitations.selectors import InvitationLookup, invitation_get, invitation_history, invitation_list
from invitations.serializers import (
    HistoryEntrySerializer,
    InvitationCreateInputSerializer,
    InvitationOutputSerializer,
    InvitationPageSerializer,
    InvitationUpdateInputSerializer,
    invitation_to_dict,
    invitations_to_dicts,
)
from invitations.services import invitation_cancel, invitation_create, invitation_resend, invitation_update
from invitations.services.batch import invitations_create_batch
from invitations.services.correct import UNSET


class InvitationBaseApi(ApiView):
    permission_classes = [IsAuthenticated, RoleAllowsMethod]

    @staticmethod
    def lookup(request, token: str) -> InvitationLookup:
        """For the services that lock the row: found and locked in one statement."""
        principal = request.user
        return InvitationLookup(organization=principal.organization, livemode=principal.livemode, token=token)

    @staticmethod
    def invitation(request, token: str):
        principal = request.user
        return invitation_get(organization=principal.organization, livemode=principal.livemode, token=token)


class InvitationListCreateApi(InvitationBaseApi):
    # Creation has its own organization bucket, apart from resends.
    rate_limits = {"POST": (CREATE_PER_ORGANIZATION,)}

    @extend_schema(
        operation_id="invitations_list",
        summary="List invitations, newest first",
        parameters=[PageQuerySerializer, *filter_parameters(InvitationFilter)],
        responses={200: InvitationPageSerializer, **error_responses(400, 422)},
    )
    def get(self, request):
        principal = request.user
        qs = invitation_list(organization=principal.organization, livemode=principal.livemode)
        rows, pagination = page_of_query(qs, request.query_params, filterset_class=InvitationFilter)
        return Response({"data": invitations_to_dicts(rows), "pagination": pagination})

    @extend_schema(
        operation_id="invitations_create",
        summary="Create an invitation and queue its delivery",
        request=InvitationCreateInputSerializer,
        examples=CREATE_EXAMPLES,
        responses={201: InvitationOutputSerializer, **error_responses(400, 403, 415, 422)},
    )
    def post(self, request):
        serializer = InvitationCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        principal = request.user
        invitation = invitation_create(
            organization=principal.organization,
            livemode=principal.livemode,
            actor=principal.actor,
            **InvitationCreateInputSerializer.as_fields(data),
        )
        return Response(invitation_to_dict(invitation), status=status.HTTP_201_CREATED)


class InvitationBatchCreateApi(InvitationBaseApi):
    # One request from the per-IP bucket, one from the batch's own per-organization-and-mode bucket.
    rate_limits = {"POST": (RESEND_PER_IP, BATCH_CREATE_PER_ORGANIZATION)}

    @extend_schema(
        operation_id="invitations_batch_create",
        summary="Create up to BATCH_CREATE_MAX (500) invitations at once",
        description="Each item is checked as its own create would be (validation, suppressions, defaults) and "
        "answered in data by its index: status 201 with the invitation, or the status and error its own create "
        "would have answered. The valid items are created in one transaction and their sends queued in delivery "
        "batches. An Idempotency-Key covers the whole batch.",
        request=BatchCreateDescribedInputSerializer,
        responses={200: BatchCreateResultSerializer, **error_responses(400, 403, 415, 422)},
    )
    def post(self, request):
        serializer = BatchCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        principal = request.user
        items = invitations_create_batch(
            organization=principal.organization,
            livemode=principal.livemode,
            items=serializer.validated_data["invitations"],
            actor=principal.actor,
            read_item=InvitationCreateInputSerializer.read,
        )
        data = [
            {"index": item.index, "status": item.status, "invitation": invitation_to_dict(item.invitation)}
            if item.invitation is not None
            else {"index": item.index, "status": item.status, **(item.error.as_body() if item.error else {})}
            for item in items
        ]
        created = sum(1 for item in items if item.invitation is not None)
        return Response({"data": data, "created": created, "failed": len(items) - created})


class InvitationDetailApi(InvitationBaseApi):
    # A correction is a send: the resend buckets, in their order, before the invitation is looked up.
    rate_limits = {"PATCH": (RESEND_PER_IP, RESEND_PER_ORGANIZATION)}

    @extend_schema(
        operation_id="invitations_retrieve",
        summary="Get one invitation",
        parameters=[TOKEN_PARAMETER],
        responses={200: InvitationOutputSerializer, **error_responses(404)},
    )
    def get(self, request, token: str):
        return Response(invitation_to_dict(self.invitation(request, token)))

    @extend_schema(
        operation_id="invitations_update",
        summary="Correct an invitation's recipient and send it there, or change its details",
        description="A new recipient (and channel) corrects the invitation: checked in the order authentication, "
        f"rate limits, 404, 422 invitation_expired, 409 invalid_status (only {listed(CORRECTABLE)}), "
        "422 max_attempts_reached, 422 validation_error (invalid, or the current recipient), 422 "
        "recipient_suppressed; no cooldown. Sends still queued to the old address are canceled, the invitation "
        "is pending with one more attempt, and a send to the corrected address is queued. reference, locale "
        "and reminders alone change without a send (409 on canceled, completed and rejected).",
        request=InvitationUpdateInputSerializer,
        parameters=[TOKEN_PARAMETER],
        responses={200: InvitationOutputSerializer, **error_responses(400, 403, 404, 409, 415, 422)},
    )
    def patch(self, request, token: str):
        serializer = InvitationUpdateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        invitation = invitation_update(
            invitation=self.lookup(request, token),
            actor=request.user.actor,
            channel=data.get("channel"),
            recipient=data.get("recipient"),
            reference=data.get("reference"),
            locale=data.get("locale"),
            reminders=data.get("reminders"),
            send_at=data["sendAt"] if "sendAt" in data else UNSET,
            expires_at=data.get("expiresAt"),
            expiry_warning=data["expiryWarning"] if "expiryWarning" in data else UNSET,
            fallback=data["fallback"] if "fallback" in data else UNSET,
        )
        return Response(invitation_to_dict(invitation))


class InvitationResendApi(InvitationBaseApi):
    # API.md's order: credentials (401), then the IP bucket, then the organization's resend
    # bucket (429), and only then the invitation is looked up (404) and its rules checked.
    rate_limits = {"POST": (RESEND_PER_IP, RESEND_PER_ORGANIZATION)}

    @extend_schema(
        operation_id="invitations_resend",
        summary="Resend an invitation",
        description="Only a sent invitation can be resent: it moves back to pending, sentAt is cleared, "
        "deliveryAttempts grows by one and a fresh delivery is queued. Refusals are checked in the order "
        "authentication, rate limits, 404, 422 invitation_expired, 409 invalid_status, 422 max_attempts_reached, "
        "429 cooldown_active, 422 recipient_suppressed.",
        request=None,
        parameters=[TOKEN_PARAMETER],
        responses={200: InvitationOutputSerializer, **error_responses(403, 404, 409, 422)},
    )
    def post(self, request, token: str):
        invitation = invitation_resend(invitation=self.lookup(request, token), actor=request.user.actor)
        return Response(invitation_to_dict(invitation))


class InvitationCancelApi(InvitationBaseApi):
    @extend_schema(
        operation_id="invitations_cancel",
        summary="Cancel (withdraw) an invitation",
        description=f"{listed(CANCELABLE)} becomes canceled, for good: sends still queued or retrying are "
        "canceled and the recipient's link answers that the invitation was withdrawn. From "
        f"{listed(NOT_CANCELABLE)}: 409 invalid_status.",
        request=None,
        parameters=[TOKEN_PARAMETER],
        responses={200: InvitationOutputSerializer, **error_responses(403, 404, 409)},
    )
    def post(self, request, token: str):
        invitation = invitation_cancel(invitation=self.lookup(request, token), actor=request.user.actor)
        return Response(invitation_to_dict(invitation))


class InvitationAttemptsApi(InvitationBaseApi):
    @extend_schema(
        operation_id="invitations_attempts",
        summary="The delivery timeline: every send attempt with its provider events, oldest first",
        parameters=[TOKEN_PARAMETER],
        responses={
            200: inline_serializer("InvitationAttempts", {"data": AttemptOutputSerializer(many=True)}),
            **error_responses(404),
        },
    )
    def get(self, request, token: str):
        attempts = delivery_attempts_for(invitation_id=self.invitation(request, token).pk)
        return Response({"data": AttemptOutputSerializer(attempts, many=True).data})


class InvitationHistoryApi(InvitationBaseApi):
    @extend_schema(
        operation_id="invitations_history",
        summary="Every status change with its actor, oldest first",
        parameters=[TOKEN_PARAMETER],
        responses={
            200: inline_serializer("InvitationHistory", {"data": HistoryEntrySerializer(many=True)}),
            **error_responses(404),
        },
    )
    def get(self, request, token: str):
        history = invitation_history(invitation=self.invitation(request, token))
        return Response({"data": HistoryEntrySerializer(history, many=True).data})
