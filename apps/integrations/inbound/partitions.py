"""Monthly partitions of the inbound event store (RANGE on received_at, one partition a month).

- `month_start(moment)`, `partition_name(month)`: the naming (`integrations_inboundevent_p2026_12`,
  bounds [first of the month, first of the next) in UTC).
- `partition_ensure(month)`: create one month's partition if missing. Rows of that month that
  landed in the default partition meanwhile are moved into it in the same transaction, so the
  default partition never blocks a new month and never keeps rows.
- `partitions_ensure_for(moment)`: the store's first-use guard, one catalogue lookup per month
  and process; an insert never depends on the beat having run.
- `partitions_maintain(now)`: the beat task's work: the current month and the next
  AFFILIATEHUB_EVENT_PARTITIONS_AHEAD months, then empty the default partition.
- `partition_list()`, `default_partition_rows()`: what exists, and the safety net's row count
  (monitored by the health page; it should stay 0).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from apps.integrations import conf

logger = logging.getLogger(__name__)

TABLE = "integrations_inboundevent"
DEFAULT_PARTITION = f"{TABLE}_default"
PARTITION_KEY = "received_at"


@dataclass(frozen=True)
class Partition:
    name: str
    month: dt.date
    start: dt.datetime
    end: dt.datetime


def month_start(moment: dt.datetime | dt.date) -> dt.date:
    """The first day of `moment`'s month (UTC for datetimes)."""
    if isinstance(moment, dt.datetime):
        moment = moment.astimezone(dt.UTC) if timezone.is_aware(moment) else moment
    return dt.date(moment.year, moment.month, 1)


def add_months(month: dt.date, count: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + count
    return dt.date(index // 12, index % 12 + 1, 1)


def partition_name(month: dt.date, table: str = TABLE) -> str:
    return f"{table}_p{month.year:04d}_{month.month:02d}"


def partition_for(month: dt.date, table: str = TABLE) -> Partition:
    month = month_start(month)
    start = dt.datetime(month.year, month.month, 1, tzinfo=dt.UTC)
    following = add_months(month, 1)
    end = dt.datetime(following.year, following.month, 1, tzinfo=dt.UTC)
    return Partition(partition_name(month, table), month, start, end)


# Rows of one month out of the default partition into the month's new partition (table names
# are ours, the bounds parameters).
_MOVE_SQL = f"""
WITH moved AS (
    DELETE FROM "{{default}}" WHERE {PARTITION_KEY} >= %s AND {PARTITION_KEY} < %s RETURNING *
)
INSERT INTO "{{partition}}" SELECT * FROM moved
"""  # noqa: S608


def _exists(cursor, name: str) -> bool:
    cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
    return cursor.fetchone()[0]


def partition_ensure(month: dt.date, *, table: str = TABLE) -> bool:
    """Create `month`'s partition of `table` if it does not exist; True when it was created.

    The table is created outside the partitioned table and attached: ATTACH PARTITION takes
    only a SHARE UPDATE EXCLUSIVE lock on the parent, so inserts into other months go on.
    Rows of the month found in the default partition move into the new partition first.
    Concurrent callers serialise on an advisory lock and the second finds the table made.
    """
    part = partition_for(month, table)
    with transaction.atomic(), connection.cursor() as cursor:
        if _exists(cursor, part.name):
            return False
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [part.name])
        if _exists(cursor, part.name):
            return False
        cursor.execute(
            f'CREATE TABLE "{part.name}" (LIKE "{table}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS)'
        )
        default = f"{table}_default"
        moved = 0
        if _exists(cursor, default):
            cursor.execute(
                _MOVE_SQL.format(default=default, partition=part.name), [part.start, part.end]
            )
            moved = cursor.rowcount
        cursor.execute(  # DDL takes no parameters: the bounds are written out (dates only)
            f'ALTER TABLE "{table}" ATTACH PARTITION "{part.name}" '
            f"FOR VALUES FROM ('{part.start.isoformat()}') TO ('{part.end.isoformat()}')"
        )
    logger.info(
        "Created partition %s (%d rows moved from the default partition).", part.name, moved
    )
    return True


_ready: set[tuple[str, dt.date]] = set()
_ready_lock = threading.Lock()


def partitions_ensure_for(moment: dt.datetime, *, table: str = TABLE) -> None:
    """Make sure the partition that a row received at `moment` goes to exists (first use).

    Costs one catalogue lookup per month and process; afterwards nothing. Should the creation
    roll back with the caller's transaction, the row lands in the default partition and the
    next maintenance moves it."""
    key = (table, month_start(moment))
    if key in _ready:
        return
    partition_ensure(key[1], table=table)
    with _ready_lock:
        _ready.add(key)


def partitions_forget() -> None:
    """Forget which partitions this process saw (after partitions were dropped: tests)."""
    with _ready_lock:
        _ready.clear()


def partition_list(*, table: str = TABLE) -> list[Partition]:
    """The monthly partitions of `table` that exist, oldest first (the default one excluded)."""
    prefix = f"{table}_p"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass",
            [table],
        )
        names = [row[0] for row in cursor.fetchall()]
    parts = []
    for name in names:
        if not name.startswith(prefix):
            continue
        year, month = name[len(prefix) :].split("_")
        parts.append(partition_for(dt.date(int(year), int(month), 1), table))
    return sorted(parts, key=lambda part: part.month)


def default_partition_rows(*, table: str = TABLE) -> int:
    """Rows in the default partition (made by migration 0010): 0 unless a month's partition was
    missing at insert time. One query: the health page shows it."""
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT count(*) FROM "{table}_default"')  # noqa: S608 - our table
        return cursor.fetchone()[0]


def _default_exists(table: str) -> bool:
    with connection.cursor() as cursor:
        return _exists(cursor, f"{table}_default")


def partitions_maintain(*, now: dt.datetime | None = None, table: str = TABLE) -> dict[str, int]:
    """Create the current month's and the next AFFILIATEHUB_EVENT_PARTITIONS_AHEAD months'
    partitions, and empty the default partition into the months its rows belong to."""
    now = now or timezone.now()
    ahead = int(conf.get("AFFILIATEHUB_EVENT_PARTITIONS_AHEAD"))
    current = month_start(now)
    created = sum(
        partition_ensure(add_months(current, offset), table=table) for offset in range(ahead + 1)
    )
    moved_months = 0
    if _default_exists(table) and default_partition_rows(table=table):
        with connection.cursor() as cursor:
            month = f"date_trunc('month', {PARTITION_KEY} AT TIME ZONE 'UTC')::date"
            months_sql = f"SELECT DISTINCT {month} FROM {table}_default"  # noqa: S608 - our table
            cursor.execute(months_sql)
            months = [row[0] for row in cursor.fetchall()]
        for month in months:
            moved_months += partition_ensure(month, table=table)
    left = default_partition_rows(table=table) if _default_exists(table) else 0
    if left:
        logger.error("The default partition of %s still holds %d rows.", table, left)
    return {"created": created + moved_months, "default_rows": left}
