"""GET /v1/billing/usage: what the caller's organization was billed in a period, per event type."""

from datetime import UTC, datetime
from decimal import Decimal

from drf_spectacular.utils import extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from api.openapi import error_responses
from api.views import ApiView
from billing.schema import UsageSchema
from billing.selectors import UsageLine, billing_usage, usage_totals
from billing.serializers import UsageQuerySerializer

AMOUNT_QUANTUM = Decimal("0.0001")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _line_to_dict(line: UsageLine, *, with_type: bool = True) -> dict:
    # Amounts travel as decimal strings: a JSON number would be read back as a float.
    body = {"count": line.count, "amount": str(line.amount.quantize(AMOUNT_QUANTUM)), "currency": line.currency}
    return {"eventType": line.event_type, **body} if with_type else body


class BillingUsageApi(ApiView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="billing_usage",
        summary="Usage and amounts billed in a period, per event type",
        parameters=[UsageQuerySerializer],
        responses={200: UsageSchema, **error_responses(400, 422)},
    )
    def get(self, request):
        query = UsageQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        start, end = query.validated_data["start"], query.validated_data["end"]
        principal = request.user
        lines = billing_usage(organization=principal.organization, livemode=principal.livemode, start=start, end=end)
        return Response(
            {
                "organization": principal.organization.slug,
                "livemode": principal.livemode,
                "from": _iso(start),
                "to": _iso(end),
                "data": [_line_to_dict(line) for line in lines],
                "totals": [_line_to_dict(line, with_type=False) for line in usage_totals(lines)],
            }
        )
