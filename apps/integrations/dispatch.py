"""Publishing processing tasks. Callers enqueue after commit (`transaction.on_commit`).

A failed publish (broker down) is logged, not raised: the event is already committed with status
`received` (or `failed` with its due time) and the outbox sweeper re-enqueues it, so nothing is
lost and the sender still gets its answer.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from kombu.exceptions import OperationalError as BrokerError

logger = logging.getLogger(__name__)

# High-volume trade feeds get their own queue (CELERY_TASK_ROUTES routes the *_trade_* tasks).
TRADE_EVENT_TYPES = frozenset({"trade.closed"})
CHUNK_SIZE = 200


def _publish(task, args, countdown: float | None = None) -> None:
    try:
        task.apply_async(args=args, countdown=countdown)
    except BrokerError:
        logger.warning("Broker unavailable; %s%r left to the outbox sweeper.", task.name, args, exc_info=True)


def enqueue_event(event_id: int, event_type: str, *, countdown: float | None = None) -> None:
    from apps.integrations import tasks

    task = tasks.process_inbound_trade_event if event_type in TRADE_EVENT_TYPES else tasks.process_inbound_event
    _publish(task, [event_id], countdown)


def enqueue_events(events: Iterable[tuple[int, str]]) -> None:
    """Enqueue many (id, type) pairs: one message per event, or per chunk when there are many."""
    from apps.integrations import tasks

    events = list(events)
    if len(events) <= 2:
        for event_id, event_type in events:
            enqueue_event(event_id, event_type)
        return
    trades = [event_id for event_id, event_type in events if event_type in TRADE_EVENT_TYPES]
    others = [event_id for event_id, event_type in events if event_type not in TRADE_EVENT_TYPES]
    for task, ids in ((tasks.process_inbound_trade_events, trades), (tasks.process_inbound_events, others)):
        for start in range(0, len(ids), CHUNK_SIZE):
            _publish(task, [ids[start : start + CHUNK_SIZE]])


def enqueue_sequence(event_ids: Sequence[int]) -> None:
    """One task that processes the events one after another, in the given order."""
    from apps.integrations import tasks

    if event_ids:
        _publish(tasks.process_inbound_events, [list(event_ids)])
