"""Celery entry point of the partitioned tables' upkeep (beat, daily): partitions ahead for every
partitioned table (apps.core.partitions), then retention of inbound events and outbound
deliveries (archive then drop)."""

from __future__ import annotations

from celery import shared_task

from apps.core.partitions import PartitionBusy, partitions_maintain_all
from apps.integrations.inbound import archive


@shared_task(
    name="integrations.maintain_inbound_partitions",
    ignore_result=True,
    autoretry_for=(PartitionBusy,),  # a month's locks were busy: again in a while
    retry_backoff=30,
    max_retries=5,
)
def maintain_inbound_partitions() -> dict[str, dict[str, int]]:
    """Create every partitioned table's coming months, empty their default partitions, archive
    the expired months of the archivable ones. The name stays (the beat entry of migration 0010
    runs it)."""
    maintained = partitions_maintain_all()
    archived = archive.archive_due_all()
    return {table: {**result, **archived.get(table, {})} for table, result in maintained.items()}
