"""GET /v1/stats: the delivery health figures for the caller's organization and mode."""

from datetime import UTC

from drf_spectacular.utils import extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from api.openapi import error_responses
from api.views import ApiView
from delivery.health import OUTCOMES, Counts, DeliveryHealth, delivery_health
from delivery.schema import StatsQuerySerializer, StatsSchema
from delivery.services.rollups import delivery_stats_refresh_if_stale


def _rates(counts: Counts) -> dict:
    return {
        **{outcome: getattr(counts, outcome) for outcome in OUTCOMES},
        "deliveryRate": counts.delivery_rate,
        "bounceRate": counts.bounce_rate,
    }


def stats_body(health: DeliveryHealth) -> dict:
    return {
        "period": health.period,
        "buckets": [
            {
                "start": bucket.start.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                **{outcome: getattr(bucket, outcome) for outcome in OUTCOMES},
            }
            for bucket in health.buckets
        ],
        "byChannel": {channel: _rates(counts) for channel, counts in health.by_channel.items()},
        "byProvider": {provider: _rates(counts) for provider, counts in health.by_provider.items()},
        "timeToAccepted": {"p50Ms": health.time_to_accepted["p50"], "p95Ms": health.time_to_accepted["p95"]},
        "timeToDelivered": {"p50Ms": health.time_to_delivered["p50"], "p95Ms": health.time_to_delivered["p95"]},
        "topFailureReasons": [{"reason": reason, "count": count} for reason, count in health.top_failure_reasons],
    }


class StatsApi(ApiView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="stats_retrieve",
        summary="Delivery health: sends by outcome, rates, latencies and failure reasons",
        description="Each send attempt queued in the period counts once, by how far it got. Figures are at most "
        "DELIVERY_STATS_INTERVAL_SECONDS old.",
        parameters=[StatsQuerySerializer],
        responses={200: StatsSchema, **error_responses(400, 422)},
    )
    def get(self, request):
        query = StatsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        delivery_stats_refresh_if_stale()
        principal = request.user
        health = delivery_health(
            period=query.validated_data["period"],
            organization_id=principal.organization.pk,
            livemode=principal.livemode,
        )
        return Response(stats_body(health))
