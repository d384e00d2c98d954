"""Celery entry points for inbound events. Thin: ids in, one service call.

All tasks run with acks_late and reject_on_worker_lost (a worker dying mid-task leaves the
message to be redelivered) and are safe to run twice: processing locks the event row and
ignores events that are no longer due. Handler failures are not retried by Celery: the
processing service records the failure and schedules the retry itself (a new message with a
countdown, exponential backoff with full jitter, always below the broker's visibility timeout);
the outbox sweeper covers any message that is lost. Only a database outage retries here.
"""

from __future__ import annotations

from celery import shared_task
from celery.signals import task_postrun, task_prerun
from django.db import InterfaceError, OperationalError, close_old_connections

from apps.core.db import connections_note_used, connections_skip_fresh_health_checks
from apps.integrations.inbound import dispatch, services

_OPTIONS = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "ignore_result": True,
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 5,
    "retry_backoff_max": 600,
    "retry_jitter": True,
    "max_retries": 5,
}


@task_prerun.connect
def _database_hygiene_before(**kwargs) -> None:
    """Before every task, what Django does before every request: close connections that are
    broken or older than CONN_MAX_AGE, and health-check a reused one before its first query
    (unless it was used a moment ago: apps.core.db). CELERY_DB_REUSE_MAX keeps Celery from
    closing them all after each task."""
    if _is_eager(kwargs):
        return
    close_old_connections()
    connections_skip_fresh_health_checks()


@task_postrun.connect
def _database_hygiene_after(**kwargs) -> None:
    """After every task: close connections that broke or grew too old."""
    if _is_eager(kwargs):
        return
    close_old_connections()
    connections_note_used()


def _is_eager(signal_kwargs: dict) -> bool:
    return bool(getattr(getattr(signal_kwargs.get("task"), "request", None), "is_eager", False))


@shared_task(name=dispatch.PROCESS_EVENT_TASK, **_OPTIONS)
def process_inbound_event(event_id: int) -> str:
    return services.inbound_event_process(event_id=event_id)


@shared_task(name=dispatch.PROCESS_TRADE_EVENT_TASK, **_OPTIONS)
def process_inbound_trade_event(event_id: int) -> str:
    """The same work for trade events, routed to the `trades` queue (CELERY_TASK_ROUTES)."""
    return services.inbound_event_process(event_id=event_id)


@shared_task(name=dispatch.PROCESS_EVENTS_TASK, **_OPTIONS)
def process_inbound_events(event_ids: list[int]) -> dict[str, int]:
    """Several events, one after another in the given order (unparking, batches)."""
    return services.inbound_events_process_sequence(event_ids=event_ids)


@shared_task(name=dispatch.PROCESS_TRADE_EVENTS_TASK, **_OPTIONS)
def process_inbound_trade_events(event_ids: list[int]) -> dict[str, int]:
    return services.inbound_events_process_sequence(event_ids=event_ids)


def _drain(trades: bool) -> dict[str, int]:
    result = services.inbound_events_drain(trades=dispatch.drain_kind_for_worker(trades))
    return {"claimed": result.claimed, "batches": result.batches, **result.outcomes}


@shared_task(name=dispatch.DRAIN_TASK, **_OPTIONS)
def drain_inbound_events() -> dict[str, int]:
    """Batch claiming: process ready events in batches until none is left (or for the drain's
    time budget); woken by intake instead of one message per event."""
    return _drain(trades=False)


@shared_task(name=dispatch.DRAIN_TRADES_TASK, **_OPTIONS)
def drain_inbound_trade_events() -> dict[str, int]:
    """The same for trade events, on the `trades` queue (CELERY_TASK_ROUTES)."""
    return _drain(trades=True)


@shared_task(
    name=dispatch.SWEEP_TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True
)
def sweep_inbound_events() -> dict[str, int]:
    """Beat, every 30 s (PeriodicTask created by migration 0002): batch after batch while full."""
    result = services.inbound_events_sweep_all()
    return {
        "requeued_received": result.requeued_received,
        "requeued_failed": result.requeued_failed,
        "rechecked_parked": result.rechecked_parked,
        "dead_lettered_parked": result.dead_lettered_parked,
    }
