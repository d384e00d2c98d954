"""The inbound event store: every event a source sent us, conflicts, schema warnings, and the
publish failures of its dispatch. Models of the `integrations` app (app_label unchanged)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.core.bounded import BoundedJSONField


class EventSource(models.TextChoices):
    """How an inbound event reached us."""

    WEBHOOK = "webhook", "Webhook"
    BATCH = "batch", "Batch webhook"
    POLL = "poll", "Polling connector"
    REPLAY = "replay", "Replay"


class EventStatus(models.TextChoices):
    """Where an inbound event's processing stands."""

    RECEIVED = "received", "Received (queued)"
    # Reserved: the processor holds a row lock while it runs instead of persisting this.
    PROCESSING = "processing", "Processing"
    PROCESSED = "processed", "Processed"
    PARKED = "parked", "Parked (player not known yet)"
    FAILED = "failed", "Failed (retry scheduled)"
    DEAD = "dead", "Dead letter"
    INVALID = "invalid", "Invalid"


class InboundEvent(models.Model):
    """One event a source system sent us, exactly as received, and where its processing stands.

    Unique per (integration, webhook_id): redelivery of the same event never makes a second row.
    `payload` is the envelope as received (`{"type", "timestamp", "data", ...}`; batch and poll
    items also carry `id`). Rows are never deleted by the application; invalid, dead and
    conflicting deliveries are kept for review and replay.

    Partitioning plan (not implemented yet): this is the highest-volume table. Partition it by
    RANGE (received_at) per calendar month. PostgreSQL requires the partition key in every
    unique constraint, so the idempotency key becomes (integration, webhook_id, received_at)
    per partition plus a small `inbound_event_key` table (integration, webhook_id) -> event id
    that keeps global idempotency (ON CONFLICT on that table, then insert into the partition);
    the primary key becomes (id, received_at). Old partitions are detached and archived once
    all their events are processed/dead and past retention; status sweeps only touch the
    current and previous month's partitions thanks to the partial indexes below.
    """

    Source = EventSource
    Status = EventStatus

    integration = models.ForeignKey(
        "integrations.Integration", on_delete=models.PROTECT, related_name="events"
    )
    webhook_id = models.CharField(max_length=255)
    event_type = models.CharField(max_length=64, blank=True)
    occurred_at = models.DateTimeField(null=True, blank=True)
    payload = BoundedJSONField(default=dict, blank=True)
    raw_body = models.TextField(
        blank=True, help_text="Only when the body could not be read as a JSON object."
    )
    body_hash = models.CharField(
        max_length=64, help_text="SHA-256 of the body (batch items: of the item)."
    )
    received_at = models.DateTimeField(default=timezone.now)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.WEBHOOK)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RECEIVED)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Failed: when the retry is due. Received/parked: when the sweeper looks again.",
    )
    last_error = models.TextField(blank=True)
    warnings = models.JSONField(default=list, blank=True)
    errors = models.JSONField(default=dict, blank=True)
    parked_system = models.CharField(max_length=64, blank=True)
    parked_external_id = models.CharField(max_length=255, blank=True)
    parked_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        permissions = [
            ("replay_inboundevent", "Can replay dead and invalid events and re-run parked ones")
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "webhook_id"], name="inbound_event_unique_webhook_id"
            ),
            models.CheckConstraint(
                condition=Q(status__in=EventStatus.values), name="inbound_event_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(source__in=EventSource.values), name="inbound_event_source_valid"
            ),
        ]
        indexes = [
            # Outbox sweeper: received/failed/parked rows by due time (small partial index).
            models.Index(
                fields=["status", "next_attempt_at"],
                name="inbound_event_sweep_idx",
                condition=Q(status__in=["received", "failed", "parked"]),
            ),
            models.Index(fields=["status", "received_at"], name="inbound_event_status_idx"),
            # Unparking looks events up by the unresolved identifier.
            models.Index(
                fields=["parked_system", "parked_external_id"],
                name="inbound_event_parked_idx",
                condition=Q(status="parked"),
            ),
            models.Index(
                fields=["integration", "event_type", "received_at"], name="inbound_event_admin_idx"
            ),
            models.Index(fields=["received_at"], name="inbound_event_received_idx"),
            models.Index(fields=["occurred_at"], name="inbound_event_occurred_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type or '?'} {self.webhook_id}"


class DeadLetterEvent(InboundEvent):
    """Admin view of events that need a person: dead (retries exhausted) and invalid."""

    class Meta:
        proxy = True
        verbose_name = "dead letter"
        verbose_name_plural = "dead letters"


class ParkedEvent(InboundEvent):
    """Admin view of events waiting for an unknown player identifier to be mapped."""

    class Meta:
        proxy = True
        verbose_name = "parked event"
        verbose_name_plural = "parked events"


class InboundConflict(models.Model):
    """A delivery that reused a stored webhook id with a different body (answered 409).

    The original event is left untouched; the new body is kept here for the integration team.
    """

    integration = models.ForeignKey(
        "integrations.Integration", on_delete=models.PROTECT, related_name="conflicts"
    )
    original = models.ForeignKey(InboundEvent, on_delete=models.PROTECT, related_name="conflicts")
    webhook_id = models.CharField(max_length=255)
    body_hash = models.CharField(max_length=64)
    payload = BoundedJSONField(default=dict, blank=True)
    raw_body = models.TextField(blank=True)
    source = models.CharField(max_length=10, choices=InboundEvent.Source.choices)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["integration", "webhook_id"])]

    def __str__(self) -> str:
        return f"conflict on {self.webhook_id}"


class SchemaWarningSeen(models.Model):
    """An unknown field first seen from an integration: unknown fields are logged once each."""

    integration = models.ForeignKey(
        "integrations.Integration", on_delete=models.CASCADE, related_name="+"
    )
    event_type = models.CharField(max_length=64)
    field = models.CharField(max_length=200)
    first_seen_at = models.DateTimeField(default=timezone.now)
    example_event = models.ForeignKey(
        InboundEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "event_type", "field"], name="schema_warning_seen_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.integration_id} {self.event_type}.{self.field}"


class PublishFailureStat(models.Model):
    """Task publishes the broker did not take during one hour (broker down or too slow).

    Each such event stays `received` and the outbox sweeper enqueues it later: nothing is lost,
    but processing waits. Counted in memory per process and added here at most once a second
    (apps.integrations.inbound.dispatch); split over shards so processes do not queue on one row lock.
    """

    hour = models.DateTimeField(help_text="Start of the hour (UTC).")
    shard = models.PositiveSmallIntegerField(default=0)
    failures = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["-hour", "shard"]
        constraints = [
            models.UniqueConstraint(
                fields=["hour", "shard"], name="publishfailurestat_unique_bucket"
            ),
            models.CheckConstraint(
                condition=Q(failures__gte=0), name="publishfailurestat_failures_gte_0"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}:00 #{self.shard}: {self.failures}"
