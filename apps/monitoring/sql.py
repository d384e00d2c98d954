"""The monitoring app's SQL: statements the ORM cannot say, each behind a named function.

- `inbound_hour_figures`: the hourly rollup's counts and exact latency percentiles in one pass
  over the hours' events (`percentile_cont ... WITHIN GROUP` and `FILTER` have no ORM spelling).
- `inbound_latency_histogram`: the same hours' latency histogram (`width_bucket` over an array
  of bounds).
- `source_activity`: each source's volume in the last 60 minutes against the median of the same
  minutes over the baseline days, from the rollup (`generate_series`, lateral joins, an
  ordered-set median).
- `poll_failure_streaks`: failed poll runs since each integration's last success (a lateral
  join; one query for every integration).
- `latency_bucket_totals`: the rollup's histogram arrays summed element-wise (`unnest ... WITH
  ORDINALITY`), for /metrics.

Table names come from the models' meta; values are always parameters.
"""

from __future__ import annotations

import datetime as dt

from apps.core.db import fetch_all
from apps.integrations.models import InboundEvent, Integration, ReconciliationRun
from apps.monitoring.models import InboundHourlyStat

_EVENTS_SQL = f"""
WITH ev AS (
    SELECT integration_id, date_trunc('hour', received_at AT TIME ZONE 'UTC') AS hour, status,
        attempts, received_at,
           source IN ('webhook', 'batch') AS pushed,
           CASE WHEN status = 'processed' AND processed_at IS NOT NULL
                THEN GREATEST(0, EXTRACT(EPOCH FROM (processed_at - received_at)) * 1000) END AS
                    latency_ms
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
_LATENCY_HISTOGRAM_SQL = f"""
SELECT integration_id, date_trunc('hour', received_at AT TIME ZONE 'UTC') AS hour,
       width_bucket(GREATEST(0, EXTRACT(EPOCH FROM (processed_at - received_at)) * 1000)::float8,
                    %(bounds)s::float8[]) AS bucket,
       count(*)
FROM {InboundEvent._meta.db_table}
WHERE received_at >= %(since)s AND received_at < %(until)s AND status = 'processed' AND
    processed_at IS NOT NULL
GROUP BY 1, 2, 3
"""  # noqa: S608

_ACTIVITY_SQL = f"""
WITH days AS (
    SELECT d, %(hour)s::timestamptz - d * interval '24 hours' AS h FROM generate_series(0,
        %(days)s) AS d
),
sources AS (
    SELECT i.id, i.slug, first.hour AS first_hour, last.last_pushed_at
    FROM {Integration._meta.db_table} i
    JOIN LATERAL (SELECT s.hour FROM {InboundHourlyStat._meta.db_table} s
                  WHERE s.integration_id = i.id AND s.pushed > 0 ORDER BY s.hour LIMIT 1) first ON
                      true
    JOIN LATERAL (SELECT coalesce(s.last_pushed_at, s.hour + interval '1 hour') AS last_pushed_at
                  FROM {InboundHourlyStat._meta.db_table} s
                  WHERE s.integration_id = i.id AND s.pushed > 0 AND s.hour <= %(hour)s
                  ORDER BY s.hour DESC LIMIT 1) last ON true
    WHERE i.is_active
),
per_day AS (
    SELECT src.id, days.d,
           coalesce(cur.pushed, 0) * (CASE WHEN days.d = 0 THEN 1 ELSE %(elapsed)s END)
           + coalesce(prev.pushed, 0) * (1 - %(elapsed)s) AS volume
    FROM sources src
    CROSS JOIN days
    LEFT JOIN {InboundHourlyStat._meta.db_table} cur ON cur.integration_id = src.id AND cur.hour =
        days.h
    LEFT JOIN {InboundHourlyStat._meta.db_table} prev
           ON prev.integration_id = src.id AND prev.hour = days.h - interval '1 hour'
    WHERE days.d = 0 OR days.h - interval '1 hour' >= src.first_hour
)
SELECT src.id, src.slug, src.last_pushed_at,
       max(p.volume) FILTER (WHERE p.d = 0),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY p.volume) FILTER (WHERE p.d > 0),
       count(*) FILTER (WHERE p.d > 0)
FROM sources src JOIN per_day p ON p.id = src.id
GROUP BY src.id, src.slug, src.last_pushed_at
ORDER BY src.slug
"""  # noqa: S608 - table names are ours; values are parameters

_POLL_FAILURES_SQL = f"""
SELECT i.id, i.slug, streak.n, streak.last_error
FROM {Integration._meta.db_table} i
JOIN LATERAL (
    SELECT count(*) AS n, (array_agg(r.error ORDER BY r.started_at DESC))[1] AS last_error
    FROM {ReconciliationRun._meta.db_table} r
    WHERE r.integration_id = i.id AND r.status = 'failed'
      AND r.started_at > coalesce((SELECT max(s.started_at) FROM {ReconciliationRun._meta.db_table}
          s
                                   WHERE s.integration_id = i.id AND s.status = 'succeeded'),
                                       '-infinity')
) streak ON true
WHERE i.is_active
  AND EXISTS (SELECT 1 FROM {ReconciliationRun._meta.db_table} f
              WHERE f.integration_id = i.id AND f.status <> 'running')
ORDER BY i.slug
"""  # noqa: S608 - table names are ours

_LATENCY_BUCKET_TOTALS_SQL = (
    f"SELECT integration_id, i, sum(v) FROM {InboundHourlyStat._meta.db_table}, "  # noqa: S608
    "unnest(latency_buckets) WITH ORDINALITY AS u(v, i) GROUP BY 1, 2"
)


def inbound_hour_figures(*, since: dt.datetime, until: dt.datetime) -> list[tuple]:
    """Per (integration, hour): last pushed at, the counts of the rollup's _COUNT_FIELDS, the
    latency sum, p50, p95, p99."""
    return fetch_all(_EVENTS_SQL, {"since": since, "until": until})


def inbound_latency_histogram(
    *, since: dt.datetime, until: dt.datetime, bounds: list[float]
) -> list[tuple]:
    """(integration, hour, bucket, count) of processed events; bucket k holds
    bounds[k-1] <= latency < bounds[k]."""
    return fetch_all(_LATENCY_HISTOGRAM_SQL, {"since": since, "until": until, "bounds": bounds})


def source_activity(*, hour: dt.datetime, baseline_days: int, elapsed: float) -> list[tuple]:
    """(id, slug, last pushed at, volume, baseline median, baseline days) per active source."""
    return fetch_all(_ACTIVITY_SQL, {"hour": hour, "days": baseline_days, "elapsed": elapsed})


def poll_failure_streaks() -> list[tuple]:
    """(id, slug, failed runs since the last success, last error) per active integration that
    has finished a run."""
    return fetch_all(_POLL_FAILURES_SQL)


def latency_bucket_totals() -> list[tuple]:
    """(integration id, 1-based bucket index, events) over every rollup hour."""
    return fetch_all(_LATENCY_BUCKET_TOTALS_SQL)
