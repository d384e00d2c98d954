"""Polling connectors and reconciliation (WEBHOOKS.md §5): where to poll, and what each run found.

Imported at the bottom of models.py so Django registers these models with the app.
"""

from __future__ import annotations

import datetime as dt

from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from apps.core.models import TimeStampedModel


class PollConfig(TimeStampedModel):
    """How AffiliateHub polls one integration's source for the events it sent.

    Each run asks for the window from `last_window_end` minus `window_overlap` up to now, follows
    the source's cursors and stores every event through the idempotent inbound store. The
    periodic task that runs it lives in django-celery-beat (`periodic_task`), kept in step with
    `enabled` and `interval_minutes` by the polling service; never edit that task by hand.
    """

    class Adapter(models.TextChoices):
        GENERIC = "generic", "Generic (WEBHOOKS.md §5 envelopes)"
        GENERIC_NDJSON = "generic_ndjson", "Generic, NDJSON pages (one envelope per line)"
        MT5_DEALS = "mt5_deals", "MetaTrader 5 manager deals"

    integration = models.OneToOneField(
        "integrations.Integration", on_delete=models.CASCADE, related_name="poll_config"
    )
    url = models.URLField(max_length=2000, help_text="GET {url}?since=&until=&type=&cursor=")
    auth_header_name = models.CharField(max_length=100, blank=True, default="Authorization")
    auth_header_value = models.CharField(
        max_length=1000, blank=True, help_text="Sent as is (e.g. 'Bearer …'); shown masked."
    )
    adapter = models.CharField(max_length=20, choices=Adapter.choices, default=Adapter.GENERIC)
    server = models.CharField(
        max_length=100,
        blank=True,
        help_text="Trading server name used in deal ids (mt5_deals); default: the slug.",
    )
    page_size = models.PositiveIntegerField(
        default=1000, validators=[MinValueValidator(1), MaxValueValidator(10000)]
    )
    window_overlap = models.DurationField(
        default=dt.timedelta(minutes=15),
        help_text="Each window starts this much before the last one ended (late-arriving events).",
    )
    event_types = ArrayField(
        models.CharField(max_length=64), default=list, blank=True, help_text="Empty: every type."
    )
    interval_minutes = models.PositiveIntegerField(
        default=60, validators=[MinValueValidator(1)], help_text="How often the periodic poll runs."
    )
    initial_lookback = models.DurationField(
        default=dt.timedelta(days=1), help_text="The first window reaches this far back."
    )
    timeout_seconds = models.PositiveIntegerField(default=30, validators=[MinValueValidator(1)])
    max_attempts = models.PositiveSmallIntegerField(
        default=4,
        validators=[MinValueValidator(1), MaxValueValidator(10)],
        help_text="Tries per page request before the run fails.",
    )
    enabled = models.BooleanField(default=True)
    last_window_end = models.DateTimeField(
        null=True, blank=True, help_text="End of the last window whose every page was stored."
    )
    # One run at a time (apps/integrations/polling/lease.py): the run holding the lease, and
    # when the lease expires unless that run renews it.
    lease_owner = models.CharField(max_length=64, blank=True, default="", editable=False)
    lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = "poll configuration"

    def __str__(self) -> str:
        return f"poll {self.integration}"

    @property
    def masked_auth_value(self) -> str:
        value = self.auth_header_value
        if not value:
            return ""
        return f"{value[:4]}…{value[-2:]}" if len(value) > 10 else "••••"


class ReconciliationRun(models.Model):
    """One poll of one integration over one window, and what it found there.

    polled = already_received + recovered + failed. `already_received` events were stored
    before the run (by webhook, or by an earlier poll: `previously_polled` of them); `recovered`
    ones were missing and are now stored (each has a RecoveredEvent row: "missed by webhooks");
    `failed` ones were stored as invalid or clashed with a stored event's body. `delta` is what
    the webhooks missed, near zero when all is well. `skipped` counts source records that are
    not events (e.g. MT5 balance deals).
    """

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Periodic poll"
        DAILY = "daily", "Daily reconciliation"
        MANUAL = "manual", "Poll now"
        BACKFILL = "backfill", "Backfill"

    integration = models.ForeignKey(
        "integrations.Integration", on_delete=models.PROTECT, related_name="reconciliation_runs"
    )
    trigger = models.CharField(max_length=10, choices=Trigger.choices)
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    pages = models.PositiveIntegerField(default=0)
    polled = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    already_received = models.PositiveIntegerField(default=0)
    previously_polled = models.PositiveIntegerField(default=0)
    recovered = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    delta = models.GeneratedField(
        expression=F("recovered"), output_field=models.IntegerField(), db_persist=True
    )
    error = models.TextField(blank=True)
    requested_by = models.CharField(
        max_length=200, blank=True, help_text="User or command that asked for it."
    )

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            models.Index(fields=["integration", "-started_at"], name="recon_run_integration_idx"),
            models.Index(fields=["status", "-started_at"], name="recon_run_status_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(window_start__lt=F("window_end")), name="recon_run_window_ordered"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["running", "succeeded", "failed"]),
                name="recon_run_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.integration} {self.window_start:%Y-%m-%d %H:%M} to {self.window_end:%H:%M} "
            f"({self.status})"
        )


class RecoveredEvent(models.Model):
    """One inbound event first stored by a reconciliation run: the webhooks missed it.

    (A backfill's events are recorded the same way; the run's trigger tells them apart.)
    """

    run = models.ForeignKey(
        ReconciliationRun, on_delete=models.CASCADE, related_name="recovered_events"
    )
    # No database constraint: InboundEvent is partitioned and its unique key is (id, received_at).
    event = models.OneToOneField(
        "integrations.InboundEvent",
        on_delete=models.CASCADE,
        db_constraint=False,
        related_name="recovery",
    )

    class Meta:
        indexes = [models.Index(fields=["run", "event"], name="recovered_event_run_idx")]

    def __str__(self) -> str:
        return f"event #{self.event_id} recovered by run #{self.run_id}"
