"""Outbound deliveries (WEBHOOKS.md §6): endpoints, one row per message, every attempt, alerts.

Imported at the bottom of apps/integrations/models.py, so these are models of the integrations
app. Written only by apps.integrations.outbound.services.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from apps.core import partitions
from apps.core.models import TimeStampedModel

DELIVERY_TABLE = "integrations_outbounddelivery"
partitions.register(DELIVERY_TABLE, key="created_at")

# WEBHOOKS.md §6: what subscribers may subscribe to.
SUBSCRIBER_EVENT_TYPES: tuple[str, ...] = (
    "player.attributed",
    "commission.accrued",
    "commission.reversed",
    "clawback.decided",
    "statement.approved",
    "payout.approved",
    "payout.completed",
    "payout.failed",
)


class OutboundEndpoint(TimeStampedModel):
    """One place AffiliateHub sends messages to.

    - `subscriber`: a system that subscribed to event types (§6), signed with its own `whsec_`
      secret the Standard Webhooks way.
    - `gateway`: the payment gateway; payout requests go to `{url}/payouts`.
    - `postback`: an affiliate's tracker; each delivery carries its own expanded URL.

    An endpoint that answers 410, or keeps failing for the configured period (5 days), is
    disabled with the reason and an alert; its pending deliveries wait until it is enabled.
    """

    class Kind(models.TextChoices):
        SUBSCRIBER = "subscriber", "Subscriber webhook"
        GATEWAY = "gateway", "Payment gateway"
        POSTBACK = "postback", "Affiliate postback"

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    url = models.URLField(max_length=2000)
    secret = models.CharField(
        max_length=200, blank=True, help_text="whsec_ + base64 key (subscribers). Never displayed."
    )
    event_types = ArrayField(
        models.CharField(max_length=40, choices=[(t, t) for t in SUBSCRIBER_EVENT_TYPES]),
        default=list,
        blank=True,
        help_text="Subscribers: the §6 event types they receive.",
    )
    is_active = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    failing_since = models.DateTimeField(
        null=True,
        blank=True,
        help_text="First failure since the last success; empty while healthy.",
    )
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["kind", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["subscriber", "gateway", "postback"]),
                name="outbound_endpoint_kind_valid",
            ),
            models.CheckConstraint(
                condition=~Q(kind="subscriber") | Q(secret__startswith="whsec_"),
                name="outbound_endpoint_subscriber_secret",
            ),
            models.CheckConstraint(
                condition=Q(is_active=True) | ~Q(disabled_reason=""),
                name="outbound_endpoint_disabled_has_reason",
            ),
        ]
        indexes = [models.Index(fields=["kind", "is_active"], name="outbound_endpoint_kind_idx")]

    def __str__(self) -> str:
        return self.name


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERING = "delivering", "Delivering"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed (retrying)"
    DEAD = "dead", "Dead letter"


class OutboundDelivery(models.Model):
    """One message to one endpoint, and where its delivery stands.

    `idempotency_key` makes enqueueing idempotent (the same business fact never makes two
    messages); `message_id` is the `webhook-id` header, the same on every attempt. `topic`
    and `subject` tell the sender (payouts, postbacks...) which of its objects the outcome is
    about. Sent outside any database transaction; each attempt is a `DeliveryAttempt`.

    Partitioned (migration 0013, docs/operations.md "Partitions"): RANGE on `created_at`, one
    partition per calendar month (UTC), `integrations_outbounddelivery_pYYYY_MM`, plus an empty
    `_default` safety net. The database's primary key is (id, created_at); Django keeps `id`
    as the pk (one sequence). `idempotency_key` is unique through OutboundDeliveryKey, written
    in the same transaction as the delivery (services.deliveries.delivery_enqueue), so the same
    business fact months later, even after its month was archived, adds nothing. Months whose
    deliveries are all succeeded or dead are archived then dropped after
    AFFILIATEHUB_DELIVERY_RETENTION_MONTHS (apps.integrations.inbound.archive).
    """

    Status = DeliveryStatus

    class Method(models.TextChoices):
        POST = "POST", "POST"
        GET = "GET", "GET"

    endpoint = models.ForeignKey(
        OutboundEndpoint, on_delete=models.PROTECT, related_name="deliveries"
    )
    event_type = models.CharField(
        max_length=40, help_text="§6 event type, or payout.request / postback.<event>."
    )
    topic = models.CharField(
        max_length=40, blank=True, help_text="Who is told the outcome (outcome handler registry)."
    )
    subject = models.CharField(
        max_length=200, blank=True, help_text="The sender's object: a payout reference, a player..."
    )
    idempotency_key = models.CharField(
        max_length=255, help_text="Unique through OutboundDeliveryKey (across partitions)."
    )
    message_id = models.CharField(
        max_length=64, help_text="webhook-id header: stable across retries."
    )
    method = models.CharField(max_length=4, choices=Method.choices, default=Method.POST)
    url = models.URLField(max_length=4000)
    payload = models.JSONField(default=dict, blank=True)
    headers = models.JSONField(
        default=dict, blank=True, help_text="Extra request headers (Idempotency-Key...)."
    )
    status = models.CharField(
        max_length=12, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(
        null=True, blank=True, help_text="When a worker took it for sending."
    )
    last_response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_response_body = models.TextField(blank=True)
    last_error = models.TextField(blank=True)
    # The partition key: set by the enqueueing, the same instant as the key table's row.
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    succeeded_at = models.DateTimeField(null=True, blank=True)
    dead_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "outbound deliveries"
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=DeliveryStatus.values), name="outbound_delivery_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(method__in=["POST", "GET"]), name="outbound_delivery_method_valid"
            ),
        ]
        indexes = [
            # The sweeper: due pending/failed rows and stuck delivering rows.
            models.Index(
                fields=["status", "next_attempt_at"],
                name="outbound_delivery_due_idx",
                condition=Q(status__in=["pending", "failed", "delivering"]),
            ),
            models.Index(
                fields=["endpoint", "status", "created_at"], name="outbound_delivery_endpoint_idx"
            ),
            models.Index(fields=["topic", "subject"], name="outbound_delivery_subject_idx"),
            models.Index(fields=["event_type", "created_at"], name="outbound_delivery_type_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} -> {self.endpoint_id} ({self.status})"


class OutboundDeliveryKey(models.Model):
    """The global idempotency key of outbound deliveries: idempotency_key -> the delivery.

    Unpartitioned and narrow, so it carries the unique key the partitioned OutboundDelivery
    cannot (its unique keys must include created_at). Kept for ever, also when the delivery's
    month is archived: `created_at` says which month's archive holds it."""

    idempotency_key = models.CharField(max_length=255, primary_key=True)
    delivery_id = models.BigIntegerField()
    created_at = models.DateTimeField()

    class Meta:
        db_table = "integrations_outbounddeliverykey"

    def __str__(self) -> str:
        return f"{self.idempotency_key} -> #{self.delivery_id}"


class DeliveryAttempt(models.Model):
    """One HTTP attempt of a delivery: what was answered (or what went wrong) and how long it
    took.

    `delivery` has no database constraint: a foreign key must reference a unique key, and the
    partitioned delivery table's is (id, created_at). Attempts are written only by the engine
    for a delivery it holds locked, and the archive deletes a month's attempts (after writing
    them into the month's file with their delivery) in the transaction that drops the month."""

    delivery = models.ForeignKey(
        OutboundDelivery, on_delete=models.CASCADE, db_constraint=False, related_name="attempt_log"
    )
    number = models.PositiveIntegerField()
    at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField()
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True, help_text="The first KiB of the answer.")
    error = models.TextField(
        blank=True, help_text="Connection error or timeout, when no answer came."
    )
    retry_after_seconds = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["delivery", "number"], name="delivery_attempt_unique_number"
            )
        ]

    def __str__(self) -> str:
        return f"attempt {self.number}: {self.response_code or self.error[:40]}"

    @property
    def succeeded(self) -> bool:
        return self.response_code is not None and 200 <= self.response_code < 300


class DeadDelivery(OutboundDelivery):
    """Admin view of deliveries that exhausted their retries (or hit a 410)."""

    class Meta:
        proxy = True
        verbose_name = "dead outbound delivery"
        verbose_name_plural = "dead outbound deliveries"


class EndpointUrlChange(models.Model):
    """A request to point the payment-gateway endpoint at another URL. Where payout requests go is
    dual-controlled like a payout destination: the change takes effect only when a second person
    approves it (never the requester; the database refuses it too)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending approval"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    endpoint = models.ForeignKey(
        OutboundEndpoint, on_delete=models.PROTECT, related_name="url_changes"
    )
    url_before = models.URLField(max_length=2000)
    url_after = models.URLField(max_length=2000)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        permissions = [("approve_endpointurlchange", "Can approve a payment-gateway URL change")]
        constraints = [
            models.CheckConstraint(
                condition=~Q(decided_by=F("requested_by")), name="endpointurlchange_four_eyes"
            ),
            models.UniqueConstraint(
                fields=["endpoint"],
                condition=Q(status="pending"),
                name="endpointurlchange_one_pending_per_endpoint",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "approved", "rejected"]),
                name="endpointurlchange_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.endpoint}: {self.url_before} -> {self.url_after} ({self.status})"
