"""Monthly partitions of the inbound event store (RANGE on received_at, one partition a month).

The machinery is apps.core.partitions, shared by every partitioned table; this module names the
event table for the store, the archive and the admin:

- `month_start(moment)`, `partition_name(month)`: the naming (`integrations_inboundevent_p2026_12`,
  bounds [first of the month, first of the next) in UTC).
- `partition_ensure(month)`, `partitions_ensure_for(moment)` (the store's first-use guard),
  `partitions_maintain(now)` (current month + AFFILIATEHUB_EVENT_PARTITIONS_AHEAD, then empty the
  default partition), `partition_list()`, `default_partition_rows()`.
"""

from __future__ import annotations

import datetime as dt

from apps.core import partitions as core
from apps.core.partitions import Partition, add_months, month_start, partitions_forget

TABLE = "integrations_inboundevent"
DEFAULT_PARTITION = f"{TABLE}_default"
PARTITION_KEY = "received_at"

core.register(TABLE, key=PARTITION_KEY)

__all__ = [
    "DEFAULT_PARTITION",
    "PARTITION_KEY",
    "TABLE",
    "Partition",
    "add_months",
    "default_partition_rows",
    "month_start",
    "partition_ensure",
    "partition_for",
    "partition_list",
    "partition_name",
    "partitions_ensure_for",
    "partitions_forget",
    "partitions_maintain",
]


def partition_name(month: dt.date, table: str = TABLE) -> str:
    return core.partition_name(table, month)


def partition_for(month: dt.date, table: str = TABLE) -> Partition:
    return core.partition_for(table, month)


def partition_ensure(month: dt.date, *, table: str = TABLE) -> bool:
    return core.partition_ensure(table, month)


def partitions_ensure_for(moment: dt.datetime, *, table: str = TABLE) -> None:
    core.partitions_ensure_for(table, moment)


def partition_list(*, table: str = TABLE) -> list[Partition]:
    return core.partition_list(table)


def default_partition_rows(*, table: str = TABLE) -> int:
    return core.default_partition_rows(table)


def partitions_maintain(*, now: dt.datetime | None = None, table: str = TABLE) -> dict[str, int]:
    return core.partitions_maintain(table, now=now)
