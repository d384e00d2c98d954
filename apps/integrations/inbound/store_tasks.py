"""Celery entry point of the event store's upkeep (beat, daily): partitions ahead, retention."""

from __future__ import annotations

from celery import shared_task

from apps.integrations.inbound import archive, partitions


@shared_task(name="integrations.maintain_inbound_partitions", ignore_result=True)
def maintain_inbound_partitions() -> dict[str, int]:
    """Create the coming months' partitions, empty the default one, archive expired months."""
    return {**partitions.partitions_maintain(), **archive.archive_due()}
