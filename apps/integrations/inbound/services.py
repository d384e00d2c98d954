"""Write operations of the inbound room, re-exported from the modules that hold them (issue 14):
store.py (the inbound event store), process.py (processing one event), drain.py (batch
claiming) and replay.py (parking, replay and the outbox sweeper).

Public entry points used by other code:

- `inbound_event_store(*, integration, event, source)` / `inbound_events_store(...)`: the one
  idempotent store used by the webhook and batch views and by polling connectors.
- `inbound_events_unpark(*, system, external_id) -> int`: called by the mappings side when an
  identifier becomes known.
- `inbound_event_process(*, event_id)`: what the Celery task runs.
- `inbound_event_replay(*, event, acting_user)`: the admin's replay of dead/invalid events.
"""

from apps.integrations.inbound.drain import (
    DRAIN_TIME_BUDGET_SECONDS,
    DrainResult,
    inbound_events_drain,
)
from apps.integrations.inbound.process import (
    DEAD,
    FAILED,
    INVALID,
    PARKED,
    PROCESSED,
    SKIPPED,
    NoHandlerRegistered,
    inbound_event_process,
    inbound_events_process_sequence,
    retry_delay,
)
from apps.integrations.inbound.replay import (
    SWEEP_TIME_BUDGET_SECONDS,
    StillInvalid,
    SweepResult,
    inbound_event_replay,
    inbound_events_sweep,
    inbound_events_sweep_all,
    inbound_events_unpark,
)
from apps.integrations.inbound.store import (
    ACCEPTED,
    ARCHIVED,
    CONFLICT,
    DUPLICATE,
    MAX_ERROR_CHARS,
    InboundEventError,
    IncomingEvent,
    Status,
    StoreResult,
    body_hash,
    inbound_event_store,
    inbound_events_store,
    incoming_event,
    item_hash,
    server_bound_cursor,
    unreadable_body_event,
    usable_event_id,
)

__all__ = [
    "ACCEPTED",
    "ARCHIVED",
    "CONFLICT",
    "DEAD",
    "DRAIN_TIME_BUDGET_SECONDS",
    "DUPLICATE",
    "FAILED",
    "INVALID",
    "MAX_ERROR_CHARS",
    "PARKED",
    "PROCESSED",
    "SKIPPED",
    "SWEEP_TIME_BUDGET_SECONDS",
    "DrainResult",
    "InboundEventError",
    "IncomingEvent",
    "NoHandlerRegistered",
    "Status",
    "StillInvalid",
    "StoreResult",
    "SweepResult",
    "body_hash",
    "inbound_event_process",
    "inbound_event_replay",
    "inbound_event_store",
    "inbound_events_drain",
    "inbound_events_process_sequence",
    "inbound_events_store",
    "inbound_events_sweep",
    "inbound_events_sweep_all",
    "inbound_events_unpark",
    "incoming_event",
    "item_hash",
    "retry_delay",
    "server_bound_cursor",
    "unreadable_body_event",
    "usable_event_id",
]
