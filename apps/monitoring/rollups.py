"""The hourly inbound rollup: InboundEvent aggregated per integration and hour of receipt.

One pass over the hours asked for (the event table's `received_at` index bounds it) computes
counts by status, what the source pushed itself (webhook or batch, not polling) and when it last
did (the silence and volume alerts read only this table), exact per-hour latency percentiles (`percentile_cont`) and a latency
histogram; rows are upserted, so refreshing an hour twice gives the same row. The beat runs
the last 3 hours every minute and the last 48 hours every 15 minutes, because an event's status
keeps changing after it arrives (retries, parking, dead-lettering) for up to about a day.
"""

from __future__ import annotations

import datetime as dt

from django.db import connection, transaction
from django.utils import timezone

from apps.integrations.models import InboundConflict, InboundEvent
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

_EVENTS_SQL = f"""
WITH ev AS (
    SELECT integration_id, date_trunc('hour', received_at AT TIME ZONE 'UTC') AS hour, status, attempts, received_at,
           source IN ('webhook', 'batch') AS pushed,
           CASE WHEN status = 'processed' AND processed_at IS NOT NULL
                THEN GREATEST(0, EXTRACT(EPOCH FROM (processed_at - received_at)) * 1000) END AS latency_ms
    FROM {InboundEvent._meta.db_table}
    WHERE received_at >= %(since)s AND received_at < %(until)s
)
SELECT integration_id, hour,
       max(received_at) FILTER (WHERE pushed),
       count(*),
       count(*) FILTER (WHERE pushed),
       count(*) FILTER (WHERE status = 'invalid'),
       count(*) FILTER (WHERE status = 'processed'),
       count(*) FILTER (WHERE status = 'received'),
       count(*) FILTER (WHERE status = 'failed'),
       count(*) FILTER (WHERE status = 'dead'),
       count(*) FILTER (WHERE status = 'parked'),
       count(*) FILTER (WHERE status = 'processed' AND attempts > 0),
       coalesce(sum(latency_ms), 0),
       percentile_cont(0.50) WITHIN GROUP (ORDER BY latency_ms),
       percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms),
       percentile_cont(0.99) WITHIN GROUP (ORDER BY latency_ms)
FROM ev
GROUP BY 1, 2
"""  # noqa: S608 - table names are ours; values are parameters

# Histogram: one row per (integration, hour, bucket). width_bucket(x, bounds) is the number of
# bounds <= x, i.e. bucket k holds LATENCY_BOUNDS_MS[k-1] <= x < LATENCY_BOUNDS_MS[k].
_HISTOGRAM_SQL = f"""
SELECT integration_id, date_trunc('hour', received_at AT TIME ZONE 'UTC') AS hour,
       width_bucket(GREATEST(0, EXTRACT(EPOCH FROM (processed_at - received_at)) * 1000)::float8,
                    %(bounds)s::float8[]) AS bucket,
       count(*)
FROM {InboundEvent._meta.db_table}
WHERE received_at >= %(since)s AND received_at < %(until)s AND status = 'processed' AND processed_at IS NOT NULL
GROUP BY 1, 2, 3
"""  # noqa: S608


def hour_floor(at: dt.datetime) -> dt.datetime:
    return at.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


def inbound_rollup_refresh(*, since: dt.datetime, until: dt.datetime | None = None) -> int:
    """Recompute the rollup rows of every hour in [since, until); returns the rows written."""
    since = hour_floor(since)
    until = hour_floor(until or timezone.now()) + dt.timedelta(hours=1)
    params = {"since": since, "until": until, "bounds": list(LATENCY_BOUNDS_MS)}
    rows: dict[tuple[int, dt.datetime], InboundHourlyStat] = {}
    with connection.cursor() as cursor:
        cursor.execute(_EVENTS_SQL, params)
        for integration_id, hour, last_pushed_at, *counts, p50, p95, p99 in cursor.fetchall():
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
        cursor.execute(_HISTOGRAM_SQL, params)
        for integration_id, hour, bucket, count in cursor.fetchall():
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
