"""Statement periods: calendar months in the operator's time zone (DOMAIN.md "Statements")."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

from apps.core import conf, db

# Advisory lock namespace for periods ("CM"); the object id is YYYYMM.
_LOCK_CLASS = 0x434D


@lru_cache(maxsize=8)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def operator_zone() -> ZoneInfo:
    return _zone(conf.operator_time_zone())


def _require_aware(at: dt.datetime) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("Times must be timezone-aware.")


def local_date(at: dt.datetime) -> dt.date:
    """The operator-local calendar date of an aware time."""
    _require_aware(at)
    return at.astimezone(operator_zone()).date()


def period_of(at: dt.datetime) -> dt.date:
    """First day of the operator-local month containing `at`."""
    day = local_date(at)
    return day.replace(day=1)


def next_period(period: dt.date) -> dt.date:
    return (period.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def previous_period(period: dt.date) -> dt.date:
    return (period - dt.timedelta(days=1)).replace(day=1)


def period_bounds(period: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of a period as aware datetimes in the operator zone."""
    zone = operator_zone()
    start = dt.datetime.combine(period, dt.time.min, tzinfo=zone)
    end = dt.datetime.combine(next_period(period), dt.time.min, tzinfo=zone)
    return start, end


def parse_period(text: str) -> dt.date:
    """'2026-11' -> date(2026, 11, 1)."""
    try:
        year, month = (int(part) for part in text.split("-"))
        return dt.date(year, month, 1)
    except ValueError as exc:
        raise ValueError(f"Expected a period as YYYY-MM, got {text!r}.") from exc


def _lock_id(period: dt.date) -> int:
    return period.year * 100 + period.month


def lock_period_shared(period: dt.date) -> None:
    """Held by accruals booking into `period` until their transaction ends: the close waits."""
    db.advisory_xact_lock(_LOCK_CLASS, _lock_id(period), shared=True)


def lock_period_exclusive(period: dt.date) -> None:
    """Taken by the period close: no accrual is half-way into the period while it closes."""
    db.advisory_xact_lock(_LOCK_CLASS, _lock_id(period))
