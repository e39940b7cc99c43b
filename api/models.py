"""The stored answers of requests sent with an Idempotency-Key (api/idempotency.py)."""

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models


class IdempotentRequest(models.Model):
    """A POST made with an Idempotency-Key that succeeded: what it was (the fingerprint) and its
    answer. The row is written in that request's own transaction, so a request that failed left none."""

    # Named, not imported: the API's plumbing sits below the apps that define tenants.
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    livemode = models.BooleanField()
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the method, path and canonical body.")
    created_at = models.DateTimeField()
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)

    class Meta:
        db_table = "requestlog_idempotentrequest"  # made by requestlog, where it lived first
        constraints = [
            models.UniqueConstraint(fields=["organization", "livemode", "key"], name="idempotent_request_unique_key"),
        ]
        indexes = [models.Index(fields=["created_at"], name="idempotent_request_created")]

    def __str__(self) -> str:
        return f"{self.key} ({self.response_status or 'running'})"
