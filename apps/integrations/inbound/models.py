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
    items also carry `id`). The application never deletes a row; invalid, dead and conflicting
    deliveries are kept for review and replay until retention archives their month.

    Partitioned (migration 0010, docs/operations.md "Inbound event partitions"): the table is
    partitioned by RANGE (received_at), one partition per calendar month (UTC) named
    `integrations_inboundevent_pYYYY_MM`, plus an empty `_default` partition as a safety net.
    The database's primary key is (id, received_at) because PostgreSQL requires the partition
    key in every unique constraint; Django keeps `id` as the model's pk (ids come from one
    sequence, so `id` alone is still unique). Global idempotency lives in InboundEventKey
    (`integration, webhook_id` -> event id), written in the same statement as the event
    (apps.integrations.inbound.store._INSERT_SQL), so a duplicate months later, even after
    its month was archived, is still answered as a duplicate. Foreign keys *to* this table are
    declared with db_constraint=False: a foreign key must reference a unique constraint, and
    the only one here is (id, received_at), which the referencing tables do not carry; and
    an archived month's rows are gone while the conflicts and recoveries that name them stay.
    Partitions are created ahead by beat (integrations.maintain_inbound_partitions) and on first
    use by the store; old months are archived then dropped (apps.integrations.inbound.archive).
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
            # Uniqueness of (integration, webhook_id) is InboundEventKey's primary key.
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


class InboundEventKey(models.Model):
    """The global idempotency key of inbound events: (integration, webhook_id) -> the event.

    Unpartitioned and narrow, so it can carry the unique key the partitioned InboundEvent
    cannot (its unique keys must include received_at). The store inserts the key and the event
    in one statement (`INSERT ... ON CONFLICT DO NOTHING` on this table, the event only for the
    keys it created). Keys are kept when their month is archived: a redelivery years later is
    still a duplicate (or a conflict, told by `body_hash`), and `received_at` says in which
    month's archive the event is.
    """

    pk = models.CompositePrimaryKey("integration_id", "webhook_id")
    integration = models.ForeignKey(
        "integrations.Integration", on_delete=models.PROTECT, related_name="+"
    )
    webhook_id = models.CharField(max_length=255)
    event_id = models.BigIntegerField()
    received_at = models.DateTimeField()
    body_hash = models.CharField(max_length=64)

    class Meta:
        db_table = "integrations_inboundeventkey"

    def __str__(self) -> str:
        return f"{self.webhook_id} -> #{self.event_id}"


class EventArchive(models.Model):
    """One archived month of a partitioned table: where its rows went, how many, and the file's
    SHA-256, recorded before the partition was dropped (apps.integrations.inbound.archive)."""

    table = models.CharField(max_length=63)
    month = models.DateField(help_text="First day of the archived month (UTC).")
    path = models.CharField(max_length=500, help_text="Name in the archive storage.")
    rows = models.BigIntegerField()
    min_id = models.BigIntegerField(null=True, blank=True)
    max_id = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64)
    size_bytes = models.BigIntegerField()
    archived_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-month", "table"]
        constraints = [
            models.UniqueConstraint(fields=["table", "month"], name="event_archive_unique_month"),
            models.CheckConstraint(condition=Q(rows__gte=0), name="event_archive_rows_gte_0"),
        ]

    def __str__(self) -> str:
        return f"{self.table} {self.month:%Y-%m}: {self.path}"


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
    # No database constraint: the event table is partitioned (see InboundEvent).
    original = models.ForeignKey(
        InboundEvent, on_delete=models.PROTECT, db_constraint=False, related_name="conflicts"
    )
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
    example_event = models.ForeignKey(  # no database constraint: see InboundEvent
        InboundEvent,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        db_constraint=False,
        related_name="+",
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
    (apps.integrations.inbound.dispatch); split over shards so processes do not queue on one row
    lock.
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
