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

from apps.monitoring import sql

WINDOW = dt.timedelta(minutes=60)


@dataclass(frozen=True)
class SourceActivity:
    """What one active integration pushed: the last 60 minutes, its usual for them, its last
    event."""

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


def source_activity(*, now: dt.datetime, baseline_days: int) -> list[SourceActivity]:
    """Every active integration that has ever pushed an event, in one query over the rollup
    (about 2 x (baseline_days + 1) rows per integration, by its unique index)."""
    hour = now.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
    elapsed = (now - hour) / WINDOW
    rows = sql.source_activity(hour=hour, baseline_days=baseline_days, elapsed=elapsed)
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


def poll_failures() -> list[PollFailures]:
    """Every active integration that has finished a poll run, with its failures since the last
    success."""
    return [
        PollFailures(integration_id=pk, slug=slug, in_a_row=n, last_error=error or "")
        for pk, slug, n, error in sql.poll_failure_streaks()
    ]
