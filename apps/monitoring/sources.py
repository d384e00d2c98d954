"""Per-source figures for the silence alerts: volume against the usual for the time of day, time
since the source last sent anything, and failed poll runs in a row.

Everything is read in SQL from small indexed tables, never from the inbound event table:

- Volume and silence come from the hourly rollup (InboundHourlyStat, unique on integration and
  hour), counting only what the source pushed itself (webhook or batch): events fetched by
  polling are ours, not the source's, and would hide a silent sender. The evaluation task
  refreshes the current hours of the rollup just before it reads them.
- Volume is the last 60 minutes: the current hour so far, plus the previous hour pro rata for
  the minutes of it still inside the window. The usual volume (the baseline) is the median of
  the same 60 minutes of the day over the trailing `baseline_days` days, counting only days
  since the source's first recorded hour, so a new source is not measured against days it did
  not exist. The median ignores a single outage or burst in the baseline days.
- Poll failures are the failed ReconciliationRun rows started after the integration's last
  successful one (its `integration, -started_at` index): one success resets the count.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.db import connection

from apps.integrations.models import Integration, ReconciliationRun
from apps.monitoring.models import InboundHourlyStat

WINDOW = dt.timedelta(minutes=60)


@dataclass(frozen=True)
class SourceActivity:
    """What one active integration pushed: the last 60 minutes, its usual for them, its last event."""

    integration_id: int
    slug: str
    volume: float  # events in the last 60 minutes (the earlier hour's part pro rata)
    baseline: float | None  # median of the same 60 minutes over the baseline days; None: no history
    baseline_days: int  # days the median rests on
    last_pushed_at: dt.datetime

    @property
    def percent_of_baseline(self) -> Decimal | None:
        if not self.baseline:
            return None
        return (Decimal(str(self.volume)) * 100 / Decimal(str(self.baseline))).quantize(
            Decimal("0.01"), ROUND_HALF_UP
        )

    def silent_minutes(self, now: dt.datetime) -> Decimal:
        return Decimal(max(0, int((now - self.last_pushed_at).total_seconds() // 60)))


@dataclass(frozen=True)
class PollFailures:
    """Failed poll runs of one integration since its last successful run."""

    integration_id: int
    slug: str
    in_a_row: int
    last_error: str


_ACTIVITY_SQL = f"""
WITH days AS (
    SELECT d, %(hour)s::timestamptz - d * interval '24 hours' AS h FROM generate_series(0, %(days)s) AS d
),
sources AS (
    SELECT i.id, i.slug, first.hour AS first_hour, last.last_pushed_at
    FROM {Integration._meta.db_table} i
    JOIN LATERAL (SELECT s.hour FROM {InboundHourlyStat._meta.db_table} s
                  WHERE s.integration_id = i.id AND s.pushed > 0 ORDER BY s.hour LIMIT 1) first ON true
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
    LEFT JOIN {InboundHourlyStat._meta.db_table} cur ON cur.integration_id = src.id AND cur.hour = days.h
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


def source_activity(*, now: dt.datetime, baseline_days: int) -> list[SourceActivity]:
    """Every active integration that has ever pushed an event, in one query over the rollup
    (about 2 x (baseline_days + 1) rows per integration, by its unique index)."""
    hour = now.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
    elapsed = (now - hour) / WINDOW
    with connection.cursor() as cursor:
        cursor.execute(_ACTIVITY_SQL, {"hour": hour, "days": baseline_days, "elapsed": elapsed})
        rows = cursor.fetchall()
    return [
        SourceActivity(
            integration_id=pk,
            slug=slug,
            last_pushed_at=last,
            volume=float(volume or 0),
            baseline=float(baseline) if baseline is not None else None,
            baseline_days=days,
        )
        for pk, slug, last, volume, baseline, days in rows
    ]


_POLL_FAILURES_SQL = f"""
SELECT i.id, i.slug, streak.n, streak.last_error
FROM {Integration._meta.db_table} i
JOIN LATERAL (
    SELECT count(*) AS n, (array_agg(r.error ORDER BY r.started_at DESC))[1] AS last_error
    FROM {ReconciliationRun._meta.db_table} r
    WHERE r.integration_id = i.id AND r.status = 'failed'
      AND r.started_at > coalesce((SELECT max(s.started_at) FROM {ReconciliationRun._meta.db_table} s
                                   WHERE s.integration_id = i.id AND s.status = 'succeeded'), '-infinity')
) streak ON true
WHERE i.is_active
  AND EXISTS (SELECT 1 FROM {ReconciliationRun._meta.db_table} f
              WHERE f.integration_id = i.id AND f.status <> 'running')
ORDER BY i.slug
"""  # noqa: S608 - table names are ours


def poll_failures() -> list[PollFailures]:
    """Every active integration that has finished a poll run, with its failures since the last success."""
    with connection.cursor() as cursor:
        cursor.execute(_POLL_FAILURES_SQL)
        return [
            PollFailures(integration_id=pk, slug=slug, in_a_row=n, last_error=error or "")
            for pk, slug, n, error in cursor.fetchall()
        ]
