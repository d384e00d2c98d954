"""Monthly RANGE partitions of the high-volume tables, one place for all of them (issue 18 §1).

Each partitioned table registers itself by name with its partition key (`register`, called by
the models module that owns it). For every registered table:

- partitions are named `<table>_pYYYY_MM` and hold [first of the month, first of the next):
  UTC midnight for a timestamptz key, the calendar date for a date key; a `<table>_default`
  partition is the safety net that should stay empty (the health page shows its rows);
- `partition_ensure(table, month)`: create one month's partition if missing, moving the rows of
  that month out of the default partition in the same transaction;
- `partitions_ensure_for(table, moment)`: the writers' first-use guard (one catalogue lookup per
  month and process), so an insert never depends on the beat having run: outside a transaction it
  makes a missing month at once; inside one it never runs DDL (the row waits in the default
  partition and the `core.partition_ensure` task makes the month after commit);
- `partitions_maintain(table)` / `partitions_maintain_all()`: the daily beat's work: the current
  month and the next AFFILIATEHUB_EVENT_PARTITIONS_AHEAD months, then empty the default partition;
- `partition_list(table)`, `default_partition_rows(table)`, `partitions_status()`: what exists;
- `partition_dropping`: the signal sent before an archived month's partition is dropped.

Table names and keys are ours (registered in code), never user input: they are written into
DDL, which takes no parameters.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass

from django.db import OperationalError, connection, transaction
from django.dispatch import Signal
from django.utils import timezone

from apps.core import conf

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PartitionedTable:
    table: str
    key: str  # the partition key column
    date_key: bool = False  # a date column (bounds are dates), else timestamptz (UTC midnights)


@dataclass(frozen=True)
class Partition:
    name: str
    month: dt.date
    start: dt.datetime | dt.date
    end: dt.datetime | dt.date


_registry: dict[str, PartitionedTable] = {}

# Sent (sender=the partitioned table's name, partition=the detached partition's name) inside the
# transaction that drops an archived month, before the drop: tables in other apps that name its
# rows without a database constraint let go of them there.
partition_dropping = Signal()


def register(table: str, *, key: str, date_key: bool = False) -> None:
    """Declare `table` as partitioned by month on `key` (idempotent)."""
    _registry[table] = PartitionedTable(table, key, date_key)


def registered() -> list[PartitionedTable]:
    return [_registry[name] for name in sorted(_registry)]


def table_spec(table: str) -> PartitionedTable:
    try:
        return _registry[table]
    except KeyError:
        raise LookupError(f"{table} is not a registered partitioned table.") from None


def month_start(moment: dt.datetime | dt.date) -> dt.date:
    """The first day of `moment`'s month (UTC for aware datetimes)."""
    if isinstance(moment, dt.datetime):
        moment = moment.astimezone(dt.UTC) if timezone.is_aware(moment) else moment
    return dt.date(moment.year, moment.month, 1)


def add_months(month: dt.date, count: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + count
    return dt.date(index // 12, index % 12 + 1, 1)


def partition_name(table: str, month: dt.date) -> str:
    return f"{table}_p{month.year:04d}_{month.month:02d}"


def partition_for(table: str, month: dt.date) -> Partition:
    month = month_start(month)
    following = add_months(month, 1)
    if table_spec(table).date_key:
        return Partition(partition_name(table, month), month, month, following)
    start = dt.datetime(month.year, month.month, 1, tzinfo=dt.UTC)
    end = dt.datetime(following.year, following.month, 1, tzinfo=dt.UTC)
    return Partition(partition_name(table, month), month, start, end)


def bounds_sql(part: Partition) -> str:
    """The FOR VALUES clause of `part` (DDL takes no parameters: dates written out)."""
    return f"FOR VALUES FROM ('{part.start.isoformat()}') TO ('{part.end.isoformat()}')"


def _exists(cursor, name: str) -> bool:
    cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
    return cursor.fetchone()[0]


# How long partition DDL waits for a lock before giving up (and being retried): ATTACH needs an
# ACCESS EXCLUSIVE lock on the default partition, and while it waits every later insert routed
# there and every unpruned read of the table queues behind it.
LOCK_TIMEOUT = "3s"


class PartitionBusy(RuntimeError):
    """A month could not be made now (a lock was not granted in time, or a deadlock): retry."""


def partition_ensure(table: str, month: dt.date) -> bool:
    """Create `month`'s partition of `table` if it does not exist; True when it was created.

    Runs in a transaction of its own, never inside a business transaction (see
    `partitions_ensure_for`): the DDL locks the parent, the default partition and the tables
    the foreign keys reference, and a transaction that had written any of them first could
    deadlock with it. The table is created outside the partitioned table and attached: ATTACH
    PARTITION takes only a SHARE UPDATE EXCLUSIVE lock on the parent, so inserts into other
    months go on. Rows of the month found in the default partition move into the new partition
    first, with the default partition locked so none arrive between the move and the attach.
    Concurrent callers serialise on the parent's SHARE UPDATE EXCLUSIVE lock (ATTACH takes it
    anyway); taking a relation lock also makes PostgreSQL apply other sessions' catalogue
    changes before the re-check (an advisory lock does not), so the second finds the table the
    first committed. Locks wait at most LOCK_TIMEOUT; then, or on a deadlock, PartitionBusy is
    raised and nothing is changed.
    """
    spec = table_spec(table)
    part = partition_for(table, month)
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            if _exists(cursor, part.name):
                return False
            cursor.execute(
                "SELECT current_setting('lock_timeout'), set_config('lock_timeout', %s, true)",
                [LOCK_TIMEOUT],
            )
            previous_timeout = cursor.fetchone()[0]
            cursor.execute(f'LOCK TABLE "{table}" IN SHARE UPDATE EXCLUSIVE MODE')
            if _exists(cursor, part.name):
                return False
            default = f"{table}_default"
            has_default = _exists(cursor, default)
            if has_default:
                cursor.execute(f'LOCK TABLE "{default}" IN ACCESS EXCLUSIVE MODE')
            cursor.execute(
                f'CREATE TABLE "{part.name}" '
                f'(LIKE "{table}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS)'
            )
            moved = 0
            if has_default:
                cursor.execute(
                    f'WITH moved AS (DELETE FROM "{default}" WHERE {spec.key} >= %s '  # noqa: S608
                    f"AND {spec.key} < %s RETURNING *) "
                    f'INSERT INTO "{part.name}" SELECT * FROM moved',
                    [part.start, part.end],
                )
                moved = cursor.rowcount
            cursor.execute(
                f'ALTER TABLE "{table}" ATTACH PARTITION "{part.name}" {bounds_sql(part)}'
            )
            # Back to the caller's setting, should this run inside a longer transaction.
            cursor.execute("SELECT set_config('lock_timeout', %s, true)", [previous_timeout])
    except OperationalError as exc:
        if getattr(exc.__cause__, "sqlstate", None) in _BUSY_SQLSTATES:
            raise PartitionBusy(f"{part.name} was not created now: {exc}") from exc
        raise
    logger.info(
        "Created partition %s (%d rows moved from the default partition).", part.name, moved
    )
    return True


# lock_not_available (lock_timeout), deadlock_detected
_BUSY_SQLSTATES = {"55P03", "40P01"}

PARTITION_TASK = "core.partition_ensure"
# A month asked for and still missing is asked for again after this many seconds (the task may
# have failed, or the broker refused the message); meanwhile its rows wait in the default
# partition, which the daily maintenance empties in any case.
REQUEST_AGAIN_AFTER_SECONDS = 60.0

_ready: set[tuple[str, dt.date]] = set()
_requested: dict[tuple[str, dt.date], float] = {}
_ready_lock = threading.Lock()


def partitions_ensure_for(table: str, moment: dt.datetime | dt.date) -> None:
    """Make sure the partition a row keyed `moment` goes to exists, or is on its way.

    A month this process saw costs nothing; an unseen one, one catalogue lookup. A missing month
    is made at once when the caller is outside any transaction. Inside one (an event being
    processed, a delivery being enqueued) no DDL runs: the row goes to the default partition
    and, once the caller commits, the `core.partition_ensure` task makes the month and moves the
    row there (bench scale, 2026-12-08: two workers making months inside their transactions
    deadlocked, or failed with "already exists", and their events failed)."""
    key = (table, month_start(moment))
    if key in _ready:
        return
    with connection.cursor() as cursor:
        exists = _exists(cursor, partition_name(*key))
    if not exists and not connection.in_atomic_block:
        try:
            partition_ensure(table, key[1])
            exists = True
        except PartitionBusy:
            logger.warning("Partition of %s for %s not made now; asking the task.", *key)
    if exists:
        with _ready_lock:
            _ready.add(key)
            _requested.pop(key, None)
        return
    _request_after_commit(table, key[1])


def _request_after_commit(table: str, month: dt.date) -> None:
    now = time.monotonic()
    with _ready_lock:
        asked = _requested.get((table, month))
        if asked is not None and now - asked < REQUEST_AGAIN_AFTER_SECONDS:
            return
        _requested[(table, month)] = now
    transaction.on_commit(lambda: _publish_request(table, month))


def _publish_request(table: str, month: dt.date) -> None:
    from apps.core.enqueue import task_named

    try:
        # No publish retries: a broker that is down must not hold up the writer's request.
        task_named(PARTITION_TASK).apply_async(args=[table, month.isoformat()], retry=False)
    except Exception:  # the broker refused: the next writer asks again, the beat moves the rows
        logger.exception("Could not ask for the partition of %s for %s.", table, month)


def partitions_forget() -> None:
    """Forget which partitions this process saw (after partitions were dropped: tests)."""
    with _ready_lock:
        _ready.clear()
        _requested.clear()


def partition_list(table: str) -> list[Partition]:
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
        parts.append(partition_for(table, dt.date(int(year), int(month), 1)))
    return sorted(parts, key=lambda part: part.month)


def default_partition_rows(table: str) -> int:
    """Rows in `table`'s default partition: 0 unless a month's partition was missing at insert
    time (0 too when the table has none)."""
    with connection.cursor() as cursor:
        if not _exists(cursor, f"{table}_default"):
            return 0
        cursor.execute(f'SELECT count(*) FROM "{table}_default"')  # noqa: S608 - our table
        return cursor.fetchone()[0]


def partitions_maintain(table: str, *, now: dt.datetime | None = None) -> dict[str, int]:
    """Create the current month's and the next AFFILIATEHUB_EVENT_PARTITIONS_AHEAD months'
    partitions of `table`, and empty its default partition into the months its rows belong to."""
    spec = table_spec(table)
    current = month_start(now or timezone.now())
    ahead = int(conf.get("AFFILIATEHUB_EVENT_PARTITIONS_AHEAD"))
    created = sum(partition_ensure(table, add_months(current, n)) for n in range(ahead + 1))
    if default_partition_rows(table):
        with connection.cursor() as cursor:
            month = f"date_trunc('month', {spec.key}{'' if spec.date_key else ' AT TIME ZONE %s'})"
            cursor.execute(
                f'SELECT DISTINCT ({month})::date FROM "{table}_default"',  # noqa: S608
                [] if spec.date_key else ["UTC"],
            )
            months = [row[0] for row in cursor.fetchall()]
        created += sum(partition_ensure(table, month) for month in months)
    left = default_partition_rows(table)
    if left:
        logger.error("The default partition of %s still holds %d rows.", table, left)
    return {"created": created, "default_rows": left}


def partitions_maintain_all(*, now: dt.datetime | None = None) -> dict[str, dict[str, int]]:
    """`partitions_maintain` for every registered table: {table: {created, default_rows}}."""
    return {spec.table: partitions_maintain(spec.table, now=now) for spec in registered()}


def default_rows_all() -> dict[str, int]:
    """{table: rows in its default partition} for every registered table, in one query (the
    health page; every registered table has its default partition, made by its migration)."""
    tables = [spec.table for spec in registered()]
    counts = ", ".join(
        f'(SELECT count(*) FROM "{table}_default")'  # noqa: S608 - registered names
        for table in tables
    )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {counts}")
        return dict(zip(tables, cursor.fetchone(), strict=True))


def partitions_status() -> dict[str, tuple[list[Partition], int]]:
    """{table: (its monthly partitions, rows in its default partition)} for every table."""
    return {
        spec.table: (partition_list(spec.table), default_partition_rows(spec.table))
        for spec in registered()
    }
