"""DeliveryAttempt, the outbox row of one send (its status, tries, provider and outcome), and
ProviderEvent, a provider's report about a send, kept once per provider event id."""

from datetime import datetime

from django.db import models

from accounts.models import ActorKind, Organization
from accounts.principals import EXPIRY_WARNING_LABEL, REMINDER_LABEL
from invitations.models import Invitation


class DeliveryAttempt(models.Model):
    """The outbox row: one per send (the first and each resend). Redis only carries its id.

    `queued` rows are the work still to do; a job claims one by moving it to `sending` in a single
    UPDATE, so a duplicate job finds nothing to claim. `retrying` rows wait for their next try
    (due at `retry_at`); `canceled` rows were no longer wanted when their job ran (a newer send
    superseded them, or the recipient had already moved on); `simulated` rows were sandbox sends
    that the built-in test provider took instead of a real one.
    """

    class Status(models.TextChoices):
        QUEUED = "queued"
        SENDING = "sending"
        ACCEPTED = "accepted"
        RETRYING = "retrying"
        FAILED = "failed"
        CANCELED = "canceled"
        # A sandbox send to an address off the organization's allow-list: taken by the built-in test
        # provider, which sends nothing (and nothing is billed).
        SIMULATED = "simulated"

    invitation = models.ForeignKey(Invitation, on_delete=models.CASCADE, related_name="delivery_attempts_set")
    number = models.PositiveSmallIntegerField(help_text="Which send of the invitation this is (1 = first).")
    channel = models.CharField(max_length=8)
    recipient = models.CharField(max_length=254)
    livemode = models.BooleanField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    tries = models.PositiveSmallIntegerField(default=0, help_text="Provider calls made for this attempt.")
    provider_message_id = models.CharField(max_length=255, blank=True, db_index=True)
    # Who took (or last refused) the send: anymail's ESP name in lowercase, twilio, console, simulator.
    provider = models.CharField(max_length=40, blank=True, db_default="")
    error_message = models.TextField(blank=True)
    # The provider's words for why it failed or bounced, with addresses, numbers and ids taken out, so
    # that the same failure of many sends reads the same (delivery.health.failure_reason).
    failure_reason = models.CharField(max_length=200, blank=True, db_default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(
        null=True, blank=True, help_text="When the provider first said it was delivered (or opened)."
    )
    retry_at = models.DateTimeField(null=True, blank=True, help_text="When a `retrying` attempt is due.")
    failed_at = models.DateTimeField(null=True, blank=True, help_text="When it failed for good.")
    # When the earliest try whose outcome is unknown began (its answer timed out, its connection
    # dropped): the provider may have the message, so a provider without idempotency keys is asked
    # before the next try sends another.
    unsure_since = models.DateTimeField(null=True, blank=True)
    # Who asked for this send (an Actor's kind and label: never a secret).
    requested_by_kind = models.CharField(max_length=16, blank=True, choices=ActorKind.choices)
    requested_by_label = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "updated_at"], name="attempt_status_updated"),
            # The delivery health rollups: the hours an attempt was queued in, and which changed lately.
            models.Index(fields=["created_at"], name="attempt_created"),
            models.Index(fields=["updated_at"], name="attempt_updated"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["invitation", "number"], name="attempt_unique_number"),
        ]

    # Set on the instance a worker claims: when the try whose answer was lost began (sending.py), and
    # which provider that earlier try went to.
    lost_try_claimed_at: datetime | None = None
    earlier_provider: str = ""

    def __str__(self) -> str:
        return f"attempt {self.pk} of {self.invitation_id} #{self.number} ({self.status})"

    @property
    def is_expiry_warning(self) -> bool:
        """Whether this send warns that the link expires (its message says so, and when)."""
        return self.requested_by_kind == ActorKind.SYSTEM and self.requested_by_label == EXPIRY_WARNING_LABEL

    @property
    def is_reminder(self) -> bool:
        """Whether this send is an automatic reminder (its message says so)."""
        return self.requested_by_kind == ActorKind.SYSTEM and self.requested_by_label == REMINDER_LABEL


class ProviderEvent(models.Model):
    """One delivery or engagement event a provider reported, kept once per provider event id.

    The unique (provider, event_id) pair makes a redelivered webhook a no-op; `outcome` says what
    the event did to its attempt's invitation.
    """

    class Kind(models.TextChoices):
        """What the provider's event says of the message, in every provider's terms."""

        QUEUED = "queued"  # taken, still on its way
        DELIVERED = "delivered"
        OPENED = "opened"
        FAILED = "failed"
        OTHER = "other"  # informational

    class Outcome(models.TextChoices):
        APPLIED = "applied"  # moved the invitation (or filled a timestamp it lacked)
        IGNORED = "ignored"  # nothing to do: older attempt, would move backwards, or informational
        DEFERRED = "deferred"  # arrived before the send was recorded as accepted; applied then
        UNMATCHED = "unmatched"  # no attempt has this message id

    provider = models.CharField(max_length=40, help_text="anymail:<esp> or twilio.")
    event_id = models.CharField(max_length=255)
    attempt = models.ForeignKey(
        DeliveryAttempt, null=True, blank=True, on_delete=models.CASCADE, related_name="provider_events"
    )
    message_id = models.CharField(max_length=255, blank=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    provider_status = models.CharField(max_length=40, help_text="The provider's own name for the event.")
    permanent = models.BooleanField(default=False, help_text="For failures: retrying cannot help.")
    description = models.TextField(blank=True)
    occurred_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField()
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["received_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "event_id"], name="provider_event_unique_id"),
        ]
        indexes = [models.Index(fields=["attempt", "outcome"], name="provider_event_attempt_outcome")]

    # Set by the service that records an event: whether its id had been recorded before.
    duplicate: bool = False

    def __str__(self) -> str:
        return f"{self.provider} {self.kind} {self.event_id} ({self.outcome})"


class DeliveryStat(models.Model):
    """The delivery health rollup: attempts queued in one hour, by organization, mode, channel and
    provider, counted once each by how far they got (delivery.health). Recomputed whole for each
    hour whose attempts changed (delivery.services.rollups), so it never counts twice."""

    hour = models.DateTimeField(help_text="Start of the UTC hour the attempts were queued in.")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    livemode = models.BooleanField()
    channel = models.CharField(max_length=8)
    provider = models.CharField(max_length=40, blank=True)
    accepted = models.PositiveIntegerField(default=0)
    delivered = models.PositiveIntegerField(default=0)
    bounced = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["hour", "organization", "livemode", "channel", "provider"], name="delivery_stat_unique"
            ),
        ]
        indexes = [models.Index(fields=["livemode", "hour"], name="delivery_stat_mode_hour")]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H:00} {self.channel} {self.provider}"


class DeliveryLatencyStat(models.Model):
    """How many of an hour's attempts took up to ``le_ms`` (and more than the bound below it) from
    queued to accepted, or from accepted to delivered: the histogram the percentiles are read from."""

    class Measure(models.TextChoices):
        ACCEPTED = "accepted"
        DELIVERED = "delivered"

    hour = models.DateTimeField()
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    livemode = models.BooleanField()
    measure = models.CharField(max_length=16, choices=Measure.choices)
    le_ms = models.BigIntegerField(help_text="The bucket's upper bound in milliseconds.")
    count = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["hour", "organization", "livemode", "measure", "le_ms"], name="delivery_latency_unique"
            ),
        ]
        indexes = [models.Index(fields=["livemode", "hour"], name="delivery_latency_mode_hour")]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H:00} {self.measure} <= {self.le_ms} ms"


class DeliveryFailureStat(models.Model):
    """An hour's failed and bounced attempts by failure reason."""

    hour = models.DateTimeField()
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    livemode = models.BooleanField()
    reason = models.CharField(max_length=200)
    count = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["hour", "organization", "livemode", "reason"], name="delivery_failure_unique"
            ),
        ]
        indexes = [models.Index(fields=["livemode", "hour"], name="delivery_failure_mode_hour")]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H:00} {self.reason}"


class DeliveryStatsCursor(models.Model):
    """One row: how far the rollups are up to date. Its lock lets one refresh run at a time."""

    refreshed_at = models.DateTimeField(null=True, blank=True, help_text="When the last refresh began.")

    def __str__(self) -> str:
        return f"delivery stats refreshed at {self.refreshed_at}"
