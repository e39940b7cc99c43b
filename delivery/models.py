from django.db import models

from invitations.models import Invitation


class DeliveryAttempt(models.Model):
    """The outbox row: one per send (the first and each resend). Redis only carries its id.

    `queued` rows are the work still to do; a job claims one by moving it to `sending` in a single
    UPDATE, so a duplicate job finds nothing to claim.
    """

    class Status(models.TextChoices):
        QUEUED = "queued"
        SENDING = "sending"
        ACCEPTED = "accepted"
        RETRYING = "retrying"
        FAILED = "failed"

    invitation = models.ForeignKey(Invitation, on_delete=models.CASCADE, related_name="delivery_attempts_set")
    number = models.PositiveSmallIntegerField(help_text="Which send of the invitation this is (1 = first).")
    channel = models.CharField(max_length=8)
    recipient = models.CharField(max_length=254)
    livemode = models.BooleanField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    tries = models.PositiveSmallIntegerField(default=0, help_text="Provider calls made for this attempt.")
    provider_message_id = models.CharField(max_length=255, blank=True, db_index=True)
    error_message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "updated_at"], name="attempt_status_updated")]
        constraints = [
            models.UniqueConstraint(fields=["invitation", "number"], name="attempt_unique_number"),
        ]

    def __str__(self) -> str:
        return f"attempt {self.pk} of {self.invitation_id} #{self.number} ({self.status})"
