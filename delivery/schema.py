"""GET /v1/stats's public shape as the OpenAPI description shows it (``apis`` builds the real one)."""

from rest_framework import serializers

from api.fields import SingleValuedQuerySerializer
from delivery.health import PERIODS


class StatsQuerySerializer(SingleValuedQuerySerializer):
    period = serializers.ChoiceField(
        choices=list(PERIODS),
        default="24h",
        help_text="24h: the last 24 UTC hours, by hour. 7d or 30d: the last 7 or 30 UTC days, by day. Each "
        "includes the hour or day under way.",
    )


class OutcomeCountsSchema(serializers.Serializer):
    accepted = serializers.IntegerField(min_value=0, help_text="Accepted by a provider; nothing more known yet.")
    delivered = serializers.IntegerField(min_value=0, help_text="Accepted, then delivered or opened.")
    bounced = serializers.IntegerField(min_value=0, help_text="Accepted, then bounced.")
    failed = serializers.IntegerField(min_value=0, help_text="Never accepted (a retry may still be pending).")

    class Meta:
        ref_name = "StatsOutcomeCounts"


class StatsBucketSchema(OutcomeCountsSchema):
    start = serializers.DateTimeField(help_text="Start of the hour or day (UTC) the sends were queued in.")

    class Meta:
        ref_name = "StatsBucket"


class StatsRatesSchema(OutcomeCountsSchema):
    deliveryRate = serializers.FloatField(
        allow_null=True, help_text="delivered / (accepted + delivered + bounced); null when none was accepted."
    )
    bounceRate = serializers.FloatField(
        allow_null=True, help_text="bounced / (accepted + delivered + bounced); null when none was accepted."
    )

    class Meta:
        ref_name = "StatsRates"


class StatsPercentilesSchema(serializers.Serializer):
    p50Ms = serializers.IntegerField(allow_null=True, help_text="Median, in milliseconds; null without data.")
    p95Ms = serializers.IntegerField(allow_null=True, help_text="95th percentile, in milliseconds.")

    class Meta:
        ref_name = "StatsPercentiles"


class StatsReasonSchema(serializers.Serializer):
    reason = serializers.CharField(help_text="The providers' words, with addresses, numbers and ids taken out.")
    count = serializers.IntegerField(min_value=1, help_text="Sends that failed or bounced for it.")

    class Meta:
        ref_name = "StatsFailureReason"


class StatsSchema(serializers.Serializer):
    period = serializers.ChoiceField(choices=list(PERIODS))
    buckets = StatsBucketSchema(many=True, help_text="Sends by outcome, per hour (24h) or day, oldest first.")
    byChannel = serializers.DictField(child=StatsRatesSchema(), help_text="email and sms.")
    byProvider = serializers.DictField(
        child=StatsRatesSchema(), help_text="By the provider that took (or last refused) each send; none: never sent."
    )
    timeToAccepted = StatsPercentilesSchema(help_text="From queued to accepted by the provider.")
    timeToDelivered = StatsPercentilesSchema(help_text="From accepted to delivered (or opened).")
    topFailureReasons = StatsReasonSchema(many=True, help_text="The most frequent, at most 10, most first.")

    class Meta:
        ref_name = "Stats"
