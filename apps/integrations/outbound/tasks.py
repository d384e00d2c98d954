"""Celery entry points of the outbound delivery engine. Thin: ids in, one service call.

Sending records its own retries (the §6 schedule, as new messages with a countdown or via the
sweeper), so Celery retries only on a database outage. acks_late + reject_on_worker_lost: a
worker that dies mid-send leaves the row `delivering`, which the sweeper reclaims.
"""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from apps.integrations.outbound import services as outbound


@shared_task(
    name=outbound.SEND_TASK,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=5,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=5,
)
def send_outbound_delivery(delivery_id: int) -> str:
    return outbound.delivery_send(delivery_id=delivery_id)


@shared_task(
    name=outbound.SWEEP_TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True
)
def sweep_outbound_deliveries() -> dict[str, int]:
    """Beat, every 10 s (PeriodicTask created by a data migration)."""
    result = outbound.deliveries_sweep()
    return {
        "requeued": result.requeued,
        "reclaimed": result.reclaimed,
        "endpoints_disabled": result.endpoints_disabled,
    }
