"""Retention of raw inbound events and outbound deliveries: archive a month to a compressed
JSON-lines file, then drop its partition.

The two tables differ only in what `ArchiveSpec` says: which statuses are unfinished, where the
files go, what a line holds (a delivery's line carries its attempts under "attempt_log"), and
what else goes with the month (a delivery month's attempts are deleted with it; other apps let
go of its rows on apps.core.partitions.partition_dropping). Setting of retention:
AFFILIATEHUB_EVENT_RETENTION_MONTHS and AFFILIATEHUB_DELIVERY_RETENTION_MONTHS.

- `archive_month(month, table=...)`: refuses (ArchiveRefused) unless the month is before the
  current one, its partition exists, and every row in it is finished (events processed, dead
  or invalid; deliveries succeeded or dead). Then, in order:
  1. detach the partition (one short transaction holding an ACCESS EXCLUSIVE lock on the event
     table, in which the statuses are checked again, so no event can change between the check
     and the detach);
  2. write its rows, oldest id first, one JSON object per line (`row_to_json`: every column,
     named as in the table), gzip-compressed, to STORAGES["event_archive"] as
     `inbound-events/integrations_inboundevent/2026-01.jsonl.gz`, then read the stored file
     back and compare its SHA-256 with the one computed while writing;
  3. in one transaction: record an EventArchive row (file name, rows, id range, SHA-256,
     size) and drop the detached table.
  A failure in 2 attaches the partition back, so nothing is lost or hidden.
- `archive_due(now)`: the months past AFFILIATEHUB_EVENT_RETENTION_MONTHS, archived one by one
  (a month still holding unfinished events is skipped and logged, and retried the next day).
- `archived_event_location(event_id=..., integration_id=..., webhook_id=...)`: which archive
  holds an event whose row is gone (ids through the archives' id ranges, webhook ids through
  InboundEventKey's month).
- `archive_read(archive, event_id=None, webhook_id=None)`: the archived rows, after checking
  the file against the recorded checksum (ArchiveCorrupt otherwise).

Facts, the ledger and InboundEventKey are never archived: they stay for ever.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import logging
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

import orjson
from django.core.files import File
from django.core.files.storage import storages
from django.db import connection, transaction
from django.utils import timezone

from apps.core.partitions import partition_dropping
from apps.integrations import conf
from apps.integrations.inbound import partitions
from apps.integrations.inbound.models import EventArchive, EventStatus, InboundEventKey

logger = logging.getLogger(__name__)

STORAGE_ALIAS = "event_archive"
FETCH_ROWS = 5_000
CHUNK_BYTES = 1024 * 1024
# Events in these states still have work ahead: their month is never archived.
UNFINISHED = (EventStatus.RECEIVED, EventStatus.PROCESSING, EventStatus.FAILED, EventStatus.PARKED)


@dataclass(frozen=True)
class ArchiveSpec:
    folder: str  # in the archive storage
    unfinished: tuple[str, ...]  # statuses that keep a month from being archived
    retention_setting: str
    line_sql: str  # (id, JSON text) of each row of the partition {name}, oldest id first
    drop_sql: tuple[str, ...] = ()  # run before the partition {name} is dropped


_ROW_SQL = 'SELECT t.id, row_to_json(t)::text FROM "{name}" t ORDER BY t.id'
SPECS: dict[str, ArchiveSpec] = {
    partitions.TABLE: ArchiveSpec(
        "inbound-events",
        tuple(str(s) for s in UNFINISHED),
        "AFFILIATEHUB_EVENT_RETENTION_MONTHS",
        _ROW_SQL,
    ),
}


def archive_spec_register(table: str, spec: ArchiveSpec) -> None:
    """Let another partitioned table (outbound deliveries) be archived the same way."""
    SPECS[table] = spec


class ArchiveRefused(RuntimeError):
    """The month cannot be archived now (current month, missing partition, unfinished rows)."""


class ArchiveCorrupt(RuntimeError):
    """An archive file does not match its recorded checksum (or is missing)."""


def archive_storage():
    return storages[STORAGE_ALIAS]


def archive_file_name(month: dt.date, table: str = partitions.TABLE) -> str:
    return f"{SPECS[table].folder}/{table}/{month:%Y-%m}.jsonl.gz"


def _unfinished(cursor, name: str, table: str) -> int:
    cursor.execute(
        f'SELECT count(*) FROM "{name}" WHERE status = ANY(%s)',  # noqa: S608 - our partition's name
        [[str(s) for s in SPECS[table].unfinished]],
    )
    return cursor.fetchone()[0]


def archive_month(
    month: dt.date, *, now: dt.datetime | None = None, table: str = partitions.TABLE
) -> EventArchive:
    """Archive one month of `table` and drop its partition (see the module's docstring)."""
    part = partitions.partition_for(month, table)
    current = partitions.month_start(now or timezone.now())
    if part.month >= current:
        raise ArchiveRefused(f"{part.month:%Y-%m} is not before the current month.")
    if EventArchive.objects.filter(table=table, month=part.month).exists():
        raise ArchiveRefused(f"{part.month:%Y-%m} of {table} is already archived.")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_inherits WHERE inhparent = %s::regclass "
            "AND inhrelid = to_regclass(%s))",
            [table, part.name],
        )
        if not cursor.fetchone()[0]:
            raise ArchiveRefused(f"{table} has no partition {part.name}.")
        if unfinished := _unfinished(cursor, part.name, table):  # cheap refusal before any lock
            raise ArchiveRefused(f"{part.name} still holds {unfinished} unfinished row(s).")

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f'LOCK TABLE "{table}" IN ACCESS EXCLUSIVE MODE')
        if unfinished := _unfinished(cursor, part.name, table):
            raise ArchiveRefused(f"{part.name} still holds {unfinished} unfinished row(s).")
        cursor.execute(f'ALTER TABLE "{table}" DETACH PARTITION "{part.name}"')

    try:
        path, digest, size, rows, min_id, max_id = _write(part.name, part.month, table)
    except BaseException:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f'ALTER TABLE "{table}" ATTACH PARTITION "{part.name}" '
                f"FOR VALUES FROM ('{part.start.isoformat()}') TO ('{part.end.isoformat()}')"
            )
        raise

    with transaction.atomic():
        archive = EventArchive.objects.create(
            table=table,
            month=part.month,
            path=path,
            rows=rows,
            min_id=min_id,
            max_id=max_id,
            sha256=digest,
            size_bytes=size,
        )
        with connection.cursor() as cursor:
            # Deferred foreign-key checks still queued on the rows (inserted in this very
            # transaction: only ever in tests) would forbid the drop; run them now.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            for statement in SPECS[table].drop_sql:
                cursor.execute(statement.format(name=part.name))
            partition_dropping.send(sender=table, partition=part.name)
            cursor.execute(f'DROP TABLE "{part.name}"')
    partitions.partitions_forget()
    logger.info("Archived %s: %d rows to %s (sha256 %s).", part.name, rows, path, digest)
    return archive


def _write(
    name: str, month: dt.date, table: str
) -> tuple[str, str, int, int, int | None, int | None]:
    """Stream the detached table `name` into the archive storage; check the stored copy."""
    storage = archive_storage()
    rows, min_id, max_id = 0, None, None
    with tempfile.TemporaryFile() as raw:
        with (
            gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as compressed,
            transaction.atomic(),
            connection.connection.cursor(name=f"archive_{name}") as cursor,
        ):
            cursor.itersize = FETCH_ROWS
            cursor.execute(SPECS[table].line_sql.format(name=name))
            for event_id, line in cursor:
                compressed.write(line.encode())
                compressed.write(b"\n")
                rows += 1
                min_id = event_id if min_id is None else min_id
                max_id = event_id
        raw.seek(0)
        digest = _sha256(raw)
        size = raw.tell()
        raw.seek(0)
        name = archive_file_name(month, table)
        if storage.exists(name):  # left by an attempt that failed: no EventArchive names it
            storage.delete(name)
        path = storage.save(name, File(raw))
    with storage.open(path, "rb") as stored:
        if _sha256(stored) != digest:
            storage.delete(path)
            raise ArchiveCorrupt(f"The stored {path} does not match what was written.")
    return path, digest, size, rows, min_id, max_id


def _sha256(handle) -> str:
    digest = hashlib.sha256()
    while chunk := handle.read(CHUNK_BYTES):
        digest.update(chunk)
    return digest.hexdigest()


def archive_due(*, now: dt.datetime | None = None, table: str = partitions.TABLE) -> dict[str, int]:
    """Archive every month of `table` older than its retention setting; {archived, refused}."""
    retention = conf.get(SPECS[table].retention_setting)
    if retention is None:
        return {"archived": 0, "refused": 0}
    now = now or timezone.now()
    oldest_kept = partitions.add_months(partitions.month_start(now), -int(retention))
    archived = refused = 0
    for part in partitions.partition_list(table=table):
        if part.month >= oldest_kept:
            break
        try:
            archive_month(part.month, now=now, table=table)
        except ArchiveRefused as refusal:
            refused += 1
            logger.warning("Not archiving %s yet: %s", part.name, refusal)
        else:
            archived += 1
    return {"archived": archived, "refused": refused}


def archive_due_all(*, now: dt.datetime | None = None) -> dict[str, dict[str, int]]:
    """`archive_due` for every archivable table: {table: {archived, refused}}."""
    return {table: archive_due(now=now, table=table) for table in sorted(SPECS)}


def archived_event_location(
    *,
    event_id: int | None = None,
    integration_id: int | None = None,
    webhook_id: str | None = None,
    table: str = partitions.TABLE,
) -> EventArchive | None:
    """The archive holding an event no longer in the table, by id or by (integration, webhook
    id)."""
    if webhook_id is not None:
        key = InboundEventKey.objects.filter(
            integration_id=integration_id, webhook_id=webhook_id
        ).first()
        if key is None:
            return None
        return EventArchive.objects.filter(
            table=table, month=partitions.month_start(key.received_at)
        ).first()
    return archive_holding(table=table, row_id=event_id)


def archive_holding(*, table: str, row_id: int) -> EventArchive | None:
    """The archive of `table` whose file holds the row `row_id` (events or deliveries): the one
    whose id range covers it, or, where neighbouring months' ranges overlap by a few ids, the
    one whose file has the row."""
    candidates = list(
        EventArchive.objects.filter(table=table, min_id__lte=row_id, max_id__gte=row_id).order_by(
            "month"
        )
    )
    if len(candidates) <= 1:
        return candidates[0] if candidates else None
    for archive in candidates:
        if any(True for _ in archive_read(archive, event_id=row_id)):
            return archive
    return None


def archive_read(
    archive: EventArchive, *, event_id: int | None = None, webhook_id: str | None = None
) -> Iterator[dict]:
    """The archived rows (all, or those with the id / webhook id), checksum verified first."""
    storage = archive_storage()
    if not storage.exists(archive.path):
        raise ArchiveCorrupt(f"{archive.path} is missing from the archive storage.")
    with storage.open(archive.path, "rb") as handle:
        if _sha256(handle) != archive.sha256:
            raise ArchiveCorrupt(f"{archive.path} does not match its recorded SHA-256.")
    with storage.open(archive.path, "rb") as handle, gzip.GzipFile(fileobj=handle) as lines:
        for line in lines:
            row = orjson.loads(line)
            if event_id is not None and row["id"] != event_id:
                continue
            if webhook_id is not None and row["webhook_id"] != webhook_id:
                continue
            yield row
