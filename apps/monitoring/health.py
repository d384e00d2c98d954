"""Integration health figures, per integration and overall, over a window (1 h, 24 h, 7 d).

Every figure comes from data the system keeps, read in a fixed handful of queries whatever the
volume (no query touches the inbound event table beyond its small partial/status indexes):

- inbound (InboundHourlyStat rollup): acceptance rate = accepted / (stored + refused as 409),
  accepted = stored - invalid; processing success rate = processed / (processed + failing +
  dead), parked and queued events being neither; retried = processed after failed attempts;
  receipt-to-processed latency p50/p95/p99 from the merged hourly histograms (exact
  `percentile_cont` per hour is kept for the hourly chart).
- outbound (OutboundDelivery, by created_at): delivery success rate = succeeded / (succeeded +
  failing + dead); attempt success rate = succeeded / attempts, so every retry counts against it.
- resolution (mappings.ResolutionStat): miss rate = misses / lookups, and its rise against the
  previous window of the same length (percentage points). Per integration: its identifier system.
- depth (now, not windowed): parked, queued, failing, dead and invalid inbound events; dead
  outbound deliveries.
- reconciliation (ReconciliationRun finished in the window): delta = events polling recovered
  that webhooks missed; failed polls.

A window is rounded out to whole hours (the rollup's grain): "1h" at 10:20 covers 09:00-10:20.
A source with nothing in the window reports None ("no data"), never zero.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, Sum
from django.db.models.functions import TruncHour
from django.utils import timezone

from apps.core.partitions import default_rows_all
from apps.core.rates import rate
from apps.integrations.models import InboundEvent, Integration, OutboundDelivery, ReconciliationRun
from apps.mappings.models import ResolutionStat
from apps.monitoring.models import LATENCY_BOUNDS_MS, InboundHourlyStat, Metric

EVENT_TABLE = InboundEvent._meta.db_table

WINDOWS: dict[str, dt.timedelta] = {
    "1h": dt.timedelta(hours=1),
    "24h": dt.timedelta(hours=24),
    "7d": dt.timedelta(days=7),
}
ALL = "all"

# Colouring: metric -> (comparison, warn at, bad at). Defaults of the alert rules too.
THRESHOLDS: dict[str, tuple[str, Decimal, Decimal]] = {
    Metric.ACCEPTANCE_RATE: ("lt", Decimal("99.9"), Decimal("99")),
    Metric.PROCESSING_SUCCESS_RATE: ("lt", Decimal("99.9"), Decimal("99.5")),
    Metric.DELIVERY_SUCCESS_RATE: ("lt", Decimal("99.9"), Decimal("99.5")),
    Metric.LATENCY_P95: ("gt", Decimal("300"), Decimal("500")),
    Metric.LATENCY_P99: ("gt", Decimal("500"), Decimal("1000")),
    Metric.MISS_RATE: ("gt", Decimal("2"), Decimal("5")),
    Metric.MISS_RATE_RISE: ("gt", Decimal("0.5"), Decimal("1")),
    Metric.DEAD_LETTERS: ("gt", Decimal("0"), Decimal("0")),
    Metric.PARKED: ("gt", Decimal("0"), Decimal("100")),
    Metric.RECONCILIATION_DELTA: ("gt", Decimal("0"), Decimal("0")),
}


def judge(metric: str, value) -> str:
    """'ok', 'warn' or 'bad' against THRESHOLDS; 'none' without data."""
    if value is None:
        return "none"
    comparison, warn, bad = THRESHOLDS[metric]
    value = Decimal(str(value))
    if comparison == "gt":
        return "bad" if value > bad else "warn" if value > warn else "ok"
    return "bad" if value < bad else "warn" if value < warn else "ok"


def histogram_percentile(buckets: list[int], p: float) -> float | None:
    """The p-quantile (0..1) of a LATENCY_BOUNDS_MS histogram, interpolated inside its bucket."""
    total = sum(buckets)
    if not total:
        return None
    target = p * total
    seen = 0
    for index, count in enumerate(buckets):
        if count and seen + count >= target:
            low = LATENCY_BOUNDS_MS[index - 1] if index > 0 else 0.0
            if index >= len(LATENCY_BOUNDS_MS):
                return low  # beyond the last bound: report the bound
            high = LATENCY_BOUNDS_MS[index]
            return round(low + (high - low) * (target - seen) / count, 1)
        seen += count
    return None


@dataclass
class Inbound:
    received: int = 0
    invalid: int = 0
    conflicts: int = 0
    processed: int = 0
    pending: int = 0
    failing: int = 0
    dead: int = 0
    parked: int = 0
    retried: int = 0
    buckets: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BOUNDS_MS) + 1))

    def add(self, stat: InboundHourlyStat) -> None:
        for name in (
            "received",
            "invalid",
            "conflicts",
            "processed",
            "pending",
            "failing",
            "dead",
            "parked",
            "retried",
        ):
            setattr(self, name, getattr(self, name) + getattr(stat, name))
        for index, count in enumerate(stat.latency_buckets or ()):
            self.buckets[index] += count

    @property
    def accepted(self) -> int:
        return self.received - self.invalid

    @property
    def acceptance_rate(self) -> Decimal | None:
        return rate(self.accepted, self.received + self.conflicts)

    @property
    def processing_success_rate(self) -> Decimal | None:
        return rate(self.processed, self.processed + self.failing + self.dead)

    def latency(self, p: float) -> float | None:
        return histogram_percentile(self.buckets, p)


@dataclass
class Outbound:
    deliveries: int = 0
    succeeded: int = 0
    failing: int = 0
    dead: int = 0
    pending: int = 0
    attempts: int = 0

    @property
    def success_rate(self) -> Decimal | None:
        return rate(self.succeeded, self.succeeded + self.failing + self.dead)

    @property
    def attempt_success_rate(self) -> Decimal | None:
        return rate(self.succeeded, self.attempts)

    @property
    def retries(self) -> int:
        return max(0, self.attempts - (self.succeeded + self.failing + self.dead))


@dataclass
class Resolution:
    lookups: int = 0
    misses: int = 0
    previous_lookups: int = 0
    previous_misses: int = 0

    @property
    def miss_rate(self) -> Decimal | None:
        return rate(self.misses, self.lookups)

    @property
    def previous_miss_rate(self) -> Decimal | None:
        return rate(self.previous_misses, self.previous_lookups)

    @property
    def rise(self) -> Decimal | None:
        if self.miss_rate is None or self.previous_miss_rate is None:
            return None
        return self.miss_rate - self.previous_miss_rate


@dataclass
class Depth:
    parked: int = 0
    pending: int = 0
    failing: int = 0
    dead: int = 0
    invalid: int = 0

    @property
    def dead_letters(self) -> int:
        return self.dead + self.invalid


@dataclass
class Reconciliation:
    runs: int = 0
    delta: int = 0
    failed: int = 0


@dataclass
class ScopeHealth:
    """All figures for one scope: an integration, or everything (`ALL`)."""

    key: str
    integration: Integration | None
    inbound: Inbound = field(default_factory=Inbound)
    resolution: Resolution = field(default_factory=Resolution)
    depth: Depth = field(default_factory=Depth)
    reconciliation: Reconciliation | None = None
    outbound: Outbound | None = (
        None  # overall only: outbound endpoints are not inbound integrations
    )
    outbound_dead: int = 0

    def figures(self) -> dict[str, tuple[Decimal | float | int | None, int]]:
        """metric -> (value or None, number of samples it rests on)."""
        inbound = self.inbound
        processed_samples = inbound.processed + inbound.failing + inbound.dead
        out = {
            Metric.ACCEPTANCE_RATE: (inbound.acceptance_rate, inbound.received + inbound.conflicts),
            Metric.PROCESSING_SUCCESS_RATE: (inbound.processing_success_rate, processed_samples),
            Metric.LATENCY_P95: (inbound.latency(0.95), inbound.processed),
            Metric.LATENCY_P99: (inbound.latency(0.99), inbound.processed),
            Metric.MISS_RATE: (self.resolution.miss_rate, self.resolution.lookups),
            Metric.MISS_RATE_RISE: (
                self.resolution.rise,
                min(self.resolution.lookups, self.resolution.previous_lookups),
            ),
            Metric.DEAD_LETTERS: (self.depth.dead_letters + self.outbound_dead, 1 << 30),
            Metric.PARKED: (self.depth.parked, 1 << 30),
        }
        if self.outbound is not None:
            out[Metric.DELIVERY_SUCCESS_RATE] = (
                self.outbound.success_rate,
                self.outbound.deliveries,
            )
        recon = self.reconciliation
        out[Metric.RECONCILIATION_DELTA] = (recon.delta if recon and recon.runs else None, 1 << 30)
        return out

    def judged(self) -> dict[str, dict]:
        return {
            metric: {"value": value, "samples": samples, "status": judge(metric, value)}
            for metric, (value, samples) in self.figures().items()
        }


@dataclass
class HourPoint:
    hour: dt.datetime
    received: int = 0
    processed: int = 0
    failed: int = 0  # failing + dead
    invalid: int = 0
    p95_ms: float | None = None
    lookups: int = 0
    misses: int = 0
    deliveries: int = 0
    delivered: int = 0

    @property
    def miss_rate(self) -> Decimal | None:
        return rate(self.misses, self.lookups)


@dataclass
class HealthReport:
    window: str
    since: dt.datetime
    until: dt.datetime
    overall: ScopeHealth
    integrations: list[ScopeHealth]
    hours: list[HourPoint]
    rollup_refreshed_at: dt.datetime | None
    # Events in the event store's default partition (a month's partition was missing when they
    # arrived): 0 unless the daily partition maintenance has not run; it moves them.
    unpartitioned_events: int = 0
    # The same for the other partitioned tables (apps.core.partitions): {table: rows}, non-zero.
    unpartitioned_rows: dict[str, int] = field(default_factory=dict)

    def scope(self, key: str) -> ScopeHealth | None:
        if key == ALL:
            return self.overall
        return next((s for s in self.integrations if s.key == key), None)


def window_bounds(window: str, now: dt.datetime | None = None) -> tuple[dt.datetime, dt.datetime]:
    if window not in WINDOWS:
        raise ValueError(f"Unknown window {window!r}; choose one of {', '.join(WINDOWS)}.")
    now = now or timezone.now()
    since = (now - WINDOWS[window]).astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
    return since, now


def health_report(
    *, window: str = "24h", now: dt.datetime | None = None, integration_id: int | None = None
) -> HealthReport:
    """Every figure for every integration and overall (or for one integration), in ~7 queries."""
    since, until = window_bounds(window, now)
    integrations = list(
        Integration.objects.order_by("slug")
        if integration_id is None
        else Integration.objects.filter(pk=integration_id)
    )
    scopes = {i.pk: ScopeHealth(key=i.slug, integration=i) for i in integrations}
    overall = ScopeHealth(key=ALL, integration=None)
    hours: dict[dt.datetime, HourPoint] = {}

    def hour_point(at: dt.datetime) -> HourPoint:
        at = at.astimezone(dt.UTC)
        return hours.setdefault(at, HourPoint(hour=at))

    # 1. Inbound rollup.
    refreshed = None
    stats = InboundHourlyStat.objects.filter(
        hour__gte=since, hour__lte=until, integration_id__in=scopes
    )
    hourly_p95: dict[dt.datetime, list[tuple[int, float]]] = defaultdict(list)
    for stat in stats.only(
        *[f.name for f in InboundHourlyStat._meta.concrete_fields if f.name != "id"]
    ):
        scopes[stat.integration_id].inbound.add(stat)
        overall.inbound.add(stat)
        point = hour_point(stat.hour)
        point.received += stat.received
        point.processed += stat.processed
        point.failed += stat.failing + stat.dead
        point.invalid += stat.invalid
        if stat.latency_p95_ms is not None:
            hourly_p95[point.hour].append((stat.processed, stat.latency_p95_ms))
        refreshed = max(refreshed, stat.refreshed_at) if refreshed else stat.refreshed_at
    for hour, values in hourly_p95.items():
        # Across integrations the hour's p95 is the worst integration's (a conservative view).
        hours[hour].p95_ms = round(max(v for _, v in values), 1)

    # 2. Resolution: this window and the previous one, per identifier system and hour.
    previous_since = since - (until - since)
    systems: dict[str, list[ScopeHealth]] = defaultdict(list)
    for scope in scopes.values():
        systems[scope.integration.id_system].append(scope)
    resolution = ResolutionStat.objects.filter(hour__gte=previous_since, hour__lte=until)
    if integration_id is not None:
        resolution = resolution.filter(system__in=list(systems))
    for row in resolution.values("system", "hour").annotate(
        lookups=Sum("lookups"), misses=Sum("misses")
    ):
        current = row["hour"] >= since
        targets = [overall, *systems.get(row["system"], [])]
        for scope in targets:
            if current:
                scope.resolution.lookups += row["lookups"]
                scope.resolution.misses += row["misses"]
            else:
                scope.resolution.previous_lookups += row["lookups"]
                scope.resolution.previous_misses += row["misses"]
        if current:
            point = hour_point(row["hour"])
            point.lookups += row["lookups"]
            point.misses += row["misses"]

    # 3. Depth, now: served by the event table's partial sweep index and its status index.
    depth_rows = (
        InboundEvent.objects.filter(status__in=["parked", "received", "failed", "dead", "invalid"])
        .filter(integration_id__in=scopes)
        .values("integration_id", "status")
        .annotate(n=Count("id"))
    )
    field_for = {
        "parked": "parked",
        "received": "pending",
        "failed": "failing",
        "dead": "dead",
        "invalid": "invalid",
    }
    for row in depth_rows:
        for scope in (scopes[row["integration_id"]], overall):
            name = field_for[row["status"]]
            setattr(scope.depth, name, getattr(scope.depth, name) + row["n"])

    # 4. Reconciliation runs finished in the window.
    for row in (
        ReconciliationRun.objects.filter(
            finished_at__gte=since, finished_at__lte=until, integration_id__in=scopes
        )
        .values("integration_id")
        .annotate(runs=Count("id"), delta=Sum("delta"), failed=Sum("failed"))
    ):
        for scope in (scopes[row["integration_id"]], overall):
            scope.reconciliation = scope.reconciliation or Reconciliation()
            scope.reconciliation.runs += row["runs"]
            scope.reconciliation.delta += row["delta"] or 0
            scope.reconciliation.failed += row["failed"] or 0

    # 5. Outbound deliveries created in the window (overall), per hour; 6. dead ones waiting.
    if integration_id is None:
        overall.outbound = Outbound()
        for row in (
            OutboundDelivery.objects.filter(created_at__gte=since, created_at__lte=until)
            .annotate(h=TruncHour("created_at", tzinfo=dt.UTC))
            .values("h", "status")
            .annotate(n=Count("id"), attempts=Sum("attempts"))
        ):
            out = overall.outbound
            out.deliveries += row["n"]
            out.attempts += row["attempts"] or 0
            name = {"succeeded": "succeeded", "failed": "failing", "dead": "dead"}.get(
                row["status"], "pending"
            )
            setattr(out, name, getattr(out, name) + row["n"])
            point = hour_point(row["h"])
            point.deliveries += row["n"]
            point.delivered += row["n"] if row["status"] == "succeeded" else 0
        overall.outbound_dead = OutboundDelivery.objects.filter(status="dead").count()

    ordered_hours = []
    cursor = since
    while cursor <= until:
        ordered_hours.append(hours.get(cursor) or HourPoint(hour=cursor))
        cursor += dt.timedelta(hours=1)
    unpartitioned = {table: rows for table, rows in default_rows_all().items() if rows}
    return HealthReport(
        window=window,
        since=since,
        until=until,
        overall=overall,
        integrations=list(scopes.values()),
        hours=ordered_hours,
        rollup_refreshed_at=refreshed,
        unpartitioned_events=unpartitioned.pop(EVENT_TABLE, 0),
        unpartitioned_rows=unpartitioned,
    )
