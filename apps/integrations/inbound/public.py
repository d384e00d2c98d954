"""What the inbound room offers other rooms and other apps.

- Handlers (declared in apps/pipeline/pipelines.py, installed with `install_pipelines`) receive
  an `EventContext` and may raise `ParkEvent` or `RejectEvent`; `EVENT_TYPES` lists the
  canonical event types; `limit` declares the longest text a handler stores for a field.
- The store: `incoming_event()` builds an `IncomingEvent`, `inbound_events_store()` stores a
  batch idempotently (the polling room stores what it finds through it).
- `inbound_events_unpark()`: the mappings side re-runs parked events once an identifier is known.
- `inbound_event_process()`, `body_hash()`: the sandbox's demo feed stores and processes events
  in its own process.
- `integration_forget()`: drop an integration's cached secrets after a change (accounts).
- The event store's months: `partitions_maintain()`, `partition_list()`,
  `default_partition_rows()` (monitoring), `archive_month()`, `archive_due()`,
  `archive_read()`, `archived_event_location()` and their errors (management command, read API);
  `ArchiveSpec`, `archive_spec_register()`, `archive_due_all()`, `archive_holding()`: the outbound
  room archives its delivery months the same way and finds an archived delivery with it.

Models are imported from `apps.integrations.models`.
"""

from apps.integrations.inbound.archive import (
    ArchiveCorrupt,
    ArchiveRefused,
    ArchiveSpec,
    archive_due,
    archive_due_all,
    archive_holding,
    archive_month,
    archive_read,
    archive_spec_register,
    archived_event_location,
)
from apps.integrations.inbound.partitions import (
    default_partition_rows,
    partition_list,
    partitions_maintain,
)
from apps.integrations.inbound.registry import (
    EVENT_TYPES,
    EventContext,
    Handler,
    ParkEvent,
    RejectEvent,
    limit,
)
from apps.integrations.inbound.registry import install as install_pipelines
from apps.integrations.inbound.schemas import MAX_ID_LENGTH
from apps.integrations.inbound.services import (
    ACCEPTED,
    CONFLICT,
    DUPLICATE,
    IncomingEvent,
    StoreResult,
    body_hash,
    inbound_event_process,
    inbound_events_store,
    inbound_events_unpark,
    incoming_event,
    item_hash,
    server_bound_cursor,
    usable_event_id,
)
from apps.integrations.inbound.verification import forget as integration_forget

__all__ = [
    "ACCEPTED",
    "CONFLICT",
    "DUPLICATE",
    "EVENT_TYPES",
    "MAX_ID_LENGTH",
    "ArchiveCorrupt",
    "ArchiveRefused",
    "ArchiveSpec",
    "EventContext",
    "Handler",
    "IncomingEvent",
    "ParkEvent",
    "RejectEvent",
    "StoreResult",
    "archive_due",
    "archive_due_all",
    "archive_holding",
    "archive_month",
    "archive_read",
    "archive_spec_register",
    "archived_event_location",
    "body_hash",
    "default_partition_rows",
    "inbound_event_process",
    "inbound_events_store",
    "inbound_events_unpark",
    "incoming_event",
    "install_pipelines",
    "integration_forget",
    "item_hash",
    "limit",
    "partition_list",
    "partitions_maintain",
    "server_bound_cursor",
    "usable_event_id",
]
