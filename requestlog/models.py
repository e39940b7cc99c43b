"""RequestLogEntry: one authenticated /v1/ request, without bodies or secrets."""

from django.db import models

from accounts.models import Organization


class RequestLogEntry(models.Model):
    """One authenticated /v1/ request as its organization sees it: never a body, never a secret."""

    class CredentialKind(models.TextChoices):
        API_KEY = "api_key"
        JWT = "jwt"

    public_id = models.CharField(max_length=40, unique=True, help_text="The Request-Id it was answered with.")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    livemode = models.BooleanField()
    created_at = models.DateTimeField()
    method = models.CharField(max_length=8)
    path = models.TextField()
    status = models.PositiveSmallIntegerField()
    error_type = models.CharField(max_length=64, blank=True)
    duration_ms = models.PositiveIntegerField()
    user_agent = models.CharField(max_length=400, blank=True)
    ip = models.CharField(max_length=64)
    credential_kind = models.CharField(max_length=16, choices=CredentialKind.choices)
    credential_label = models.CharField(max_length=254, help_text="The key's visible prefix or the user's email.")
    idempotency_key = models.CharField(max_length=255, blank=True)
    invitation_token = models.CharField(max_length=40, blank=True, help_text="The invitation the request named.")

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "request log entries"
        indexes = [
            models.Index(fields=["organization", "livemode", "-created_at"], name="reqlog_org_mode_created"),
            models.Index(fields=["invitation_token", "-created_at"], name="reqlog_invitation_created"),
            models.Index(fields=["created_at"], name="reqlog_created"),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} {self.method} {self.path} {self.status}"
