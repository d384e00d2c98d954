"""Celery entry points of the core app (registered by CoreConfig.ready; services publish them by
name through apps.core.enqueue)."""

from __future__ import annotations

import datetime as dt

from celery import shared_task

from apps.core import partitions


@shared_task(
    name=partitions.PARTITION_TASK,
    ignore_result=True,
    autoretry_for=(partitions.PartitionBusy,),
    retry_backoff=2,
    retry_backoff_max=120,
    max_retries=8,
)
def partition_ensure(table: str, month: str) -> bool:
    """Make one month's partition of a partitioned table, moving its rows out of the default
    partition (asked for by a writer that found the month missing inside its transaction).
    Retried with backoff while the locks it needs are busy; the daily maintenance catches up on
    what the retries did not make."""
    return partitions.partition_ensure(table, dt.date.fromisoformat(month))
