"""Making a month's partition (apps.core.partitions): at once outside a transaction, never inside
one, safe against another process making the same month, and bounded in how long it waits for
locks (bench scale, 2026-12-08: two workers making months inside their event transactions
deadlocked or failed with "already exists")."""

from __future__ import annotations

import datetime as dt
import time

import psycopg
import pytest
from django.db import connection, transaction

from apps.core import partitions
from apps.players.fact_keys import REVENUE_TABLE
from tests.libpq import test_database_conninfo

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def month():
    """A month of revenue reports with no partition; whatever a test makes is dropped after."""
    month = dt.date(2043, 5, 1)
    part = partitions.partition_for(REVENUE_TABLE, month)
    partitions.partitions_forget()
    yield month
    partitions.partitions_forget()
    with connection.cursor() as cursor:
        if _exists(part.name):
            cursor.execute(f'ALTER TABLE "{REVENUE_TABLE}" DETACH PARTITION "{part.name}"')
            cursor.execute(f'DROP TABLE "{part.name}"')


def _exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
        return cursor.fetchone()[0]


def _make_elsewhere(part: partitions.Partition) -> None:
    """Another process makes the month and commits."""
    with psycopg.connect(test_database_conninfo(), autocommit=True) as other:
        other.execute(
            f'CREATE TABLE "{part.name}" '
            f'(LIKE "{REVENUE_TABLE}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS)'
        )
        other.execute(
            f'ALTER TABLE "{REVENUE_TABLE}" ATTACH PARTITION "{part.name}" '
            f"{partitions.bounds_sql(part)}"
        )


def test_outside_a_transaction_the_first_writer_makes_the_month_at_once(month):
    partitions.partitions_ensure_for(REVENUE_TABLE, dt.date(2043, 5, 17))
    assert _exists(partitions.partition_name(REVENUE_TABLE, month))


def test_inside_a_transaction_the_first_writer_makes_nothing(month, partition_requests):
    with transaction.atomic():
        partitions.partitions_ensure_for(REVENUE_TABLE, dt.date(2043, 5, 17))
        assert not _exists(partitions.partition_name(REVENUE_TABLE, month))
    assert partition_requests == [(REVENUE_TABLE, "2043-05-01")]
    assert partition_requests.run() == [True]
    assert _exists(partitions.partition_name(REVENUE_TABLE, month))


def test_a_month_another_process_just_made_is_found_not_made_again(month):
    part = partitions.partition_for(REVENUE_TABLE, month)
    with transaction.atomic():
        # This transaction looked the name up before the other process made it: PostgreSQL's
        # cached lookup keeps saying "missing" until something makes it read the catalogue.
        assert not _exists(part.name)
        _make_elsewhere(part)
        assert partitions.partition_ensure(REVENUE_TABLE, month) is False
    assert _exists(part.name)


def test_a_busy_lock_gives_up_in_time_and_changes_nothing(month, monkeypatch):
    monkeypatch.setattr(partitions, "LOCK_TIMEOUT", "200ms")
    part = partitions.partition_for(REVENUE_TABLE, month)
    with psycopg.connect(test_database_conninfo()) as other:
        # A long report reading the table keeps the default partition it scans locked.
        other.execute(f'SELECT count(*) FROM "{REVENUE_TABLE}"')
        started = time.monotonic()
        with pytest.raises(partitions.PartitionBusy, match=part.name):
            partitions.partition_ensure(REVENUE_TABLE, month)
        assert time.monotonic() - started < 5
        other.rollback()
    assert not _exists(part.name)
    assert partitions.partition_ensure(REVENUE_TABLE, month) is True
