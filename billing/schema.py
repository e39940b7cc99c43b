"""The usage report's public shape as the OpenAPI description shows it (``apis`` builds the real one)."""

from rest_framework import serializers

from billing.models import EventType


class UsageTotalSchema(serializers.Serializer):
    count = serializers.IntegerField(min_value=0)
    amount = serializers.DecimalField(max_digits=20, decimal_places=4, help_text="A decimal string, never a float.")
    currency = serializers.CharField(help_text="ISO 4217 code.")

    class Meta:
        ref_name = "UsageTotal"


class UsageLineSchema(UsageTotalSchema):
    eventType = serializers.ChoiceField(choices=EventType.choices)

    class Meta:
        ref_name = "UsageLine"


class UsageSchema(serializers.Serializer):
    organization = serializers.CharField(help_text="The caller's organization slug.")
    livemode = serializers.BooleanField(help_text="Sandbox keys see sandbox usage, which is never billed.")
    to = serializers.DateTimeField(help_text="End of the period, excluded.")
    # DRF's stubs take a field named data for the serializer's own `data` attribute.
    data = UsageLineSchema(many=True, help_text="One line per event type and currency.")  # type: ignore[assignment]
    totals = UsageTotalSchema(many=True, help_text="One line per currency.")

    def get_fields(self):
        # "from" is a Python keyword.
        return {"from": serializers.DateTimeField(help_text="Start of the period, included."), **super().get_fields()}

    class Meta:
        ref_name = "Usage"
