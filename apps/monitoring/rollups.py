"""The hourly inbound rollup: InboundEvent aggregated per integration and hour of receipt.

One pass over the hours asked for (the event table's `received_at` index bounds it) computes
counts by status, what the source pushed itself (webhook or batch, not polling) and when it last
did (the silence and volume alerts read only this table), exact per-hour latency percentiles
(`percentile_cont`) and a latency
histogram; rows are upserted, so refreshing an hour twice gives the same row. The beat runs
the last 3 hours every minute and the last 48 hours every 15 minutes, because an event's status
keeps changing after it arrives (retries, parking, dead-lettering) for up to about a day.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from apps.integrations.models import InboundConflict
from apps.monitoring import sql
from apps.monitoring.models import LATENCY_BOUNDS_MS, InboundHourlyStat

_COUNT_FIELDS = (
    "received",
    "pushed",
    "invalid",
    "processed",
    "pending",
    "failing",
    "dead",
    "parked",
    "retried",
    "latency_sum_ms",
)


def hour_floor(at: dt.datetime) -> dt.datetime:
    return at.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


def inbound_rollup_refresh(*, since: dt.datetime, until: dt.datetime | None = None) -> int:
    """Recompute the rollup rows of every hour in [since, until); returns the rows written."""
    since = hour_floor(since)
    until = hour_floor(until or timezone.now()) + dt.timedelta(hours=1)
    rows: dict[tuple[int, dt.datetime], InboundHourlyStat] = {}
    for integration_id, hour, last_pushed_at, *counts, p50, p95, p99 in sql.inbound_hour_figures(
        since=since, until=until
    ):
        hour = hour.replace(tzinfo=dt.UTC)
        stat = InboundHourlyStat(
            integration_id=integration_id,
            hour=hour,
            last_pushed_at=last_pushed_at,
            latency_p50_ms=p50,
            latency_p95_ms=p95,
            latency_p99_ms=p99,
            latency_buckets=[0] * (len(LATENCY_BOUNDS_MS) + 1),
        )
        for name, value in zip(_COUNT_FIELDS, counts, strict=True):
            setattr(stat, name, value)
        rows[(integration_id, hour)] = stat
    for integration_id, hour, bucket, count in sql.inbound_latency_histogram(
        since=since, until=until, bounds=list(LATENCY_BOUNDS_MS)
    ):
        rows[(integration_id, hour.replace(tzinfo=dt.UTC))].latency_buckets[bucket] = count
    for integration_id, received_at in (
        InboundConflict.objects.filter(received_at__gte=since, received_at__lt=until)
        .values_list("integration_id", "received_at")
        .iterator()
    ):
        key = (integration_id, hour_floor(received_at))
        if key not in rows:
            rows[key] = InboundHourlyStat(
                integration_id=integration_id,
                hour=key[1],
                latency_buckets=[0] * (len(LATENCY_BOUNDS_MS) + 1),
            )
        rows[key].conflicts += 1
    now = timezone.now()
    for stat in rows.values():
        stat.refreshed_at = now
    with transaction.atomic():
        InboundHourlyStat.objects.bulk_create(
            list(rows.values()),
            batch_size=500,
            update_conflicts=True,
            unique_fields=["integration", "hour"],
            update_fields=[
                *_COUNT_FIELDS,
                "last_pushed_at",
                "conflicts",
                "latency_p50_ms",
                "latency_p95_ms",
                "latency_p99_ms",
                "latency_buckets",
                "refreshed_at",
            ],
        )
    return len(rows)
