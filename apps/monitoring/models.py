"""Integration health: the hourly inbound rollup behind the dashboard, alert rules and alerts."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.core import alerts as core_alerts

# Upper bounds (ms) of the receipt-to-processed latency histogram kept per hour: geometric,
# ~25 % apart from 1 ms to 10 min, so merged hours give window percentiles within one bucket.
LATENCY_BOUNDS_MS: tuple[float, ...] = tuple(round(1.25**i, 3) for i in range(0, 61))


class InboundHourlyStat(models.Model):
    """Inbound events one integration sent during one hour (by `received_at`), by where they
    stand now, with their receipt-to-processed latency. Rebuilt from InboundEvent by the
    `monitoring.refresh_rollups` task, so the dashboard never scans the event table."""

    integration = models.ForeignKey(
        "integrations.Integration", on_delete=models.CASCADE, related_name="+"
    )
    hour = models.DateTimeField(help_text="Start of the hour (UTC).")
    received = models.PositiveIntegerField(default=0, help_text="Events stored (every status).")
    pushed = models.PositiveIntegerField(
        default=0,
        help_text="Of those, sent by the source itself (webhook or batch), not fetched by polling.",
    )
    last_pushed_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the last event the source sent itself arrived in this hour.",
    )
    invalid = models.PositiveIntegerField(default=0, help_text="Stored as invalid (answered 422).")
    conflicts = models.PositiveIntegerField(
        default=0, help_text="Deliveries refused as 409 (same id, other body)."
    )
    processed = models.PositiveIntegerField(default=0)
    pending = models.PositiveIntegerField(default=0, help_text="Still received (queued).")
    failing = models.PositiveIntegerField(default=0, help_text="Failed, a retry scheduled.")
    dead = models.PositiveIntegerField(default=0)
    parked = models.PositiveIntegerField(default=0)
    retried = models.PositiveIntegerField(
        default=0, help_text="Processed only after one or more failed attempts."
    )
    latency_sum_ms = models.FloatField(
        default=0, help_text="Sum of the processed events' latencies."
    )
    latency_p50_ms = models.FloatField(null=True, blank=True)
    latency_p95_ms = models.FloatField(null=True, blank=True)
    latency_p99_ms = models.FloatField(null=True, blank=True)
    latency_buckets = ArrayField(
        models.PositiveIntegerField(),
        default=list,
        blank=True,
        help_text="Processed events per latency bucket (LATENCY_BOUNDS_MS; the last counts "
        "everything above).",
    )
    refreshed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-hour", "integration"]
        constraints = [
            models.UniqueConstraint(fields=["integration", "hour"], name="inbound_hourly_unique")
        ]
        indexes = [models.Index(fields=["hour"], name="inbound_hourly_hour_idx")]

    def __str__(self) -> str:
        return f"{self.integration_id} {self.hour:%Y-%m-%d %H}:00"


class Metric(models.TextChoices):
    ACCEPTANCE_RATE = "acceptance_rate", "Inbound acceptance rate (%)"
    PROCESSING_SUCCESS_RATE = "processing_success_rate", "Inbound processing success rate (%)"
    DELIVERY_SUCCESS_RATE = "delivery_success_rate", "Outbound delivery success rate (%)"
    LATENCY_P95 = "latency_p95_ms", "Receipt-to-processed latency p95 (ms)"
    LATENCY_P99 = "latency_p99_ms", "Receipt-to-processed latency p99 (ms)"
    MISS_RATE = "miss_rate", "Resolution miss rate (%)"
    MISS_RATE_RISE = "miss_rate_rise", "Resolution miss rate rise vs the previous window (points)"
    DEAD_LETTERS = "dead_letters", "Dead letters waiting (inbound dead/invalid + outbound dead)"
    PARKED = "parked", "Parked events waiting"
    RECONCILIATION_DELTA = (
        "reconciliation_delta",
        "Reconciliation delta (events recovered by polling)",
    )
    # Per source (integration), judged by apps.monitoring.sources rather than the health report.
    VOLUME_VS_BASELINE = (
        "volume_vs_baseline",
        "Inbound volume, % of the source's usual for the time of day",
    )
    SILENT_MINUTES = "silent_minutes", "Minutes since the source last sent an event"
    POLL_FAILURES_IN_A_ROW = "poll_failures_in_a_row", "Poll runs failed in a row"


# Judged for each integration on its own (an alert per source), never "all together".
SOURCE_METRICS = frozenset(
    {Metric.VOLUME_VS_BASELINE, Metric.SILENT_MINUTES, Metric.POLL_FAILURES_IN_A_ROW}
)


class Window(models.TextChoices):
    HOUR = "1h", "1 hour"
    DAY = "24h", "24 hours"
    WEEK = "7d", "7 days"


class AlertRule(models.Model):
    """One condition to watch: `metric` `comparison` `threshold` over `window`, for one
    integration or all of them. Evaluated every minute; a breach opens one alert per rule and
    scope, which closes itself when the figure recovers.

    Source metrics (SOURCE_METRICS: volume against the usual, silence, failed polls) are judged
    per integration; for them `threshold` is the rule's parameter (the fraction in %, the silent
    minutes, the failed runs in a row), `min_samples` the minimum baseline volume, and
    `baseline_days` how far back the usual volume for the time of day is taken from."""

    class Comparison(models.TextChoices):
        GT = "gt", "above"
        GE = "ge", "at or above"
        LT = "lt", "below"

    name = models.CharField(max_length=200, unique=True)
    metric = models.CharField(max_length=40, choices=Metric.choices)
    comparison = models.CharField(max_length=2, choices=Comparison.choices)
    threshold = models.DecimalField(
        max_digits=12,
        decimal_places=4,
        help_text="The figure is compared to this. Volume rule: the fraction of the usual volume, "
        "in % (25 = a "
        "quarter); silence: minutes without an event; poll failures: failed runs in a row.",
    )
    window = models.CharField(
        max_length=3,
        choices=Window.choices,
        default=Window.HOUR,
        help_text="Not used by the source rules (volume: the last 60 minutes; silence and poll "
        "failures: now).",
    )
    integration = models.ForeignKey(
        "integrations.Integration",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Empty: all integrations together (source rules: each integration on its own).",
    )
    min_samples = models.PositiveIntegerField(
        default=20,
        verbose_name="minimum samples / baseline",
        help_text="Rates and percentiles are not judged on fewer events than this. Volume and "
        "silence rules: the "
        "minimum baseline, i.e. they fire only when the source usually sends at least this many "
        "events in this "
        "hour of the day (0: silence is judged at every hour).",
    )
    baseline_days = models.PositiveSmallIntegerField(
        default=14,
        validators=[MinValueValidator(1), MaxValueValidator(60)],
        help_text="Volume and silence rules: the usual volume is the median of the same hour of "
        "the day over this "
        "many trailing days (only days since the source first sent anything).",
    )
    notify_email = models.TextField(
        blank=True, help_text="Addresses, comma-separated. Empty: no e-mail."
    )
    webhook_endpoint = models.ForeignKey(
        "integrations.OutboundEndpoint",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        limit_choices_to={"kind": "subscriber"},
        help_text="A subscriber endpoint: alert.fired / alert.resolved are sent there, signed, "
        "through the "
        "outbound delivery engine (retries, dead letters). Empty: no webhook.",
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["metric", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(comparison__in=["gt", "ge", "lt"]), name="alert_rule_comparison_valid"
            ),
            models.CheckConstraint(
                condition=Q(window__in=["1h", "24h", "7d"]), name="alert_rule_window_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def per_source(self) -> bool:
        return self.metric in SOURCE_METRICS

    def breached(self, value: Decimal) -> bool:
        if self.comparison == self.Comparison.GT:
            return value > self.threshold
        if self.comparison == self.Comparison.GE:
            return value >= self.threshold
        return value < self.threshold


class Alert(models.Model):
    """Something a person must look at: the one alert system of the project.

    A *rule* alert is one breach of a rule for one scope, from when it fired until the figure
    recovered; at most one is open per rule and scope (a partial unique constraint), so
    evaluating twice never fires twice. An *event* alert records something that happened
    (an outbound delivery dead-lettered, an endpoint disabled), raised through
    apps.core.alerts by the layers below; it stays open until someone acknowledges it."""

    class Kind(models.TextChoices):
        RULE = "rule", "Rule breached"
        DELIVERY_DEAD = core_alerts.DELIVERY_DEAD, "Outbound delivery dead-lettered"
        ENDPOINT_DISABLED = core_alerts.ENDPOINT_DISABLED, "Outbound endpoint disabled"

    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.RULE)
    rule = models.ForeignKey(
        AlertRule, null=True, blank=True, on_delete=models.CASCADE, related_name="alerts"
    )
    integration = models.ForeignKey(
        "integrations.Integration",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    endpoint = models.ForeignKey(
        "integrations.OutboundEndpoint",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    # No database constraint: the partitioned delivery table's unique key is (id, created_at).
    # When a delivery's month is archived, the alerts naming it lose the link (receivers.py).
    delivery = models.ForeignKey(
        "integrations.OutboundDelivery",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        db_constraint=False,
        related_name="+",
    )
    scope = models.CharField(
        max_length=80, help_text="'all', the integration's slug or the outbound endpoint's name."
    )
    value = models.DecimalField(
        max_digits=16,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="Rule alerts: the figure when it fired (updated while open).",
    )
    threshold = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    message = models.TextField()
    fired_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    notifications = models.JSONField(
        default=list, blank=True, help_text="Each notification sent: channel, event, outcome."
    )

    class Meta:
        ordering = ["-fired_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "scope"],
                condition=Q(resolved_at__isnull=True),
                name="alert_one_open_per_rule_scope",
            ),
            models.CheckConstraint(
                condition=Q(acknowledged_at__isnull=True) | Q(acknowledged_by__isnull=False),
                name="alert_acknowledged_by_someone",
            ),
            models.CheckConstraint(
                condition=(
                    Q(
                        kind="rule",
                        rule__isnull=False,
                        value__isnull=False,
                        threshold__isnull=False,
                    )
                    | Q(
                        kind__in=[core_alerts.DELIVERY_DEAD, core_alerts.ENDPOINT_DISABLED],
                        rule__isnull=True,
                        endpoint__isnull=False,
                    )
                ),
                name="alert_rule_or_event_complete",
            ),
        ]
        indexes = [models.Index(fields=["resolved_at", "-fired_at"], name="alert_open_idx")]

    def __str__(self) -> str:
        return f"{self.title} [{self.scope}]"

    @property
    def title(self) -> str:
        """The rule's name, or what happened for an event alert."""
        return self.rule.name if self.rule_id else self.get_kind_display()

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None
