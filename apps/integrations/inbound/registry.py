"""The inbound event handler registry: which handlers run for each event type.

The integrations app stores and routes events; it knows event types, never business rules, and
never imports a domain app. The pipelines are declared in ONE module above every domain app,
apps/pipeline/pipelines.py (`PIPELINES`: for each event type its handlers in order), which
`PipelineConfig.ready()` hands to `install()`; the registry runs exactly those lists::

    # apps/pipeline/pipelines.py
    PIPELINES = {
        "deposit.created": (
            facts.deposit_created,  # records the Deposit (ctx.record)
            commissions.deposit_created,  # recorded Deposit -> CPA line
            ...
        ),
        ...
    }

    # apps/mappings/handlers.py
    from apps.integrations.inbound.public import EventContext, ParkEvent

    def deposit_created(ctx: EventContext) -> None:
        system, external_id = ctx.id_system, ctx.data["player_id"]
        player = resolve(system, external_id)  # mappings
        if player is None:
            raise ParkEvent(
                system,
                external_id,
                "player not mapped yet",
                known_now=lambda: is_mapped(system, external_id),  # asked again at the park
            )
        ...

Contract for handlers:

- `install(pipelines)`: every type of `EVENT_TYPES` (WEBHOOKS.md §2) gets its tuple of handlers,
  run in that order; an unknown type, a missing one or a handler that is not callable is refused.
  (`register`/`unregister`/`snapshot`/`restore` are for tests that swap handlers.)
- A handler is called as `handler(ctx: EventContext) -> None`. All handlers of an event and the
  event's status change run inside ONE database transaction, with the event row locked: either
  every handler's writes commit together with status `processed`, or none do.
- Delivery is at least once and in any order: handlers must be idempotent (unique keys on the
  source event / external ids, `get_or_create` on a unique key) and tolerate out-of-order
  arrival (a restatement older than what is stored, a deposit before its registration...).
- `ctx.data` is the validated payload: amounts are `Decimal`, times aware `datetime`, dates
  `date`, optional fields absent when not sent. `ctx.raw` is the envelope as received.
- A player that is not known yet: raise `ParkEvent(system, external_id, reason,
  known_now=...)`. Everything the handlers wrote for this event is rolled back, the event
  becomes `parked` (not failed, no attempt counted). When the identifier gets mapped, the
  mappings service calls
  `apps.integrations.inbound.services.inbound_events_unpark(system=..., external_id=...)`, which
  re-runs the parked events of that identifier in occurrence order. `known_now()` (is the
  identifier known now?) closes the race with a registration committing between the handler's
  lookup and the park: both sides take the identifier's park lock (inbound/parking.py).
- An event that can never succeed however often it is retried (it contradicts what is stored,
  e.g. identifiers of two different players): raise `RejectEvent(reason)`. The handlers' writes
  are rolled back and the event goes straight to the dead letters with the reason, for a person
  to look at and replay once the data is fixed.
- Any other exception is a failure: the handlers' writes are rolled back, the traceback summary
  is recorded in `last_error`, and the event is retried with exponential backoff, then
  dead-lettered (admin: "Dead letters", replayable).
- A handler that records a fact passes it on with `ctx.record(instance)` (only when this
  delivery created it); handlers registered after it read `ctx.recorded(Model)`, so a reaction
  acts once and needs no query to find what the event recorded.
- Handlers do no network I/O (the transaction is open); schedule outbound work with
  `transaction.on_commit`.
- What a handler needs from `ctx.data` is checked at the door, so an accepted event never fails
  later because of its own shape: a field the handler reads with `data[...]` is required by the
  type's schema (apps/integrations/inbound/schemas/), and a text the handler stores in a column is
  declared with `limit(event_type, field, max_length)` (the column's own `max_length`), which
  the door enforces. tests/integrations/test_handler_requirements.py walks both.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# WEBHOOKS.md §2: every canonical event type.
EVENT_TYPES: frozenset[str] = frozenset(
    {
        "player.registered",
        "deposit.created",
        "revenue.reported",
        "trade.closed",
        "purchase.created",
        "purchase.refunded",
        "chargeback.created",
        "kyc.updated",
        "self_exclusion.started",
        "self_exclusion.ended",
        "payout.confirmed",
        "payout.failed",
    }
)


@dataclass(frozen=True)
class EventContext:
    """What a handler knows about the event it handles: plain values, plus the facts recorded by
    the handlers that ran before it for this event (model instances, see `record`)."""

    event_id: int
    integration_id: int
    integration_slug: str
    integration_kind: str  # crm / payments / trading / compliance / prop
    id_system: str  # identifier system of player ids in this event (crm, payments, mt5-live...)
    event_type: str
    webhook_id: str  # the sender's idempotency key
    occurred_at: dt.datetime | None  # envelope timestamp: when it happened at the source
    data: dict[str, Any]  # validated payload (Decimal amounts, aware datetimes)
    raw: dict[str, Any] = field(default_factory=dict)  # the envelope exactly as received
    # What the handlers before this one recorded for this event (`record`/`recorded`): how a
    # reaction finds the fact without querying for it. Empty for a duplicate delivery.
    facts: list[Any] = field(default_factory=list)

    def record(self, *facts: Any) -> None:
        """Tell the handlers after this one what this event recorded (model instances)."""
        self.facts.extend(facts)

    def recorded(self, model: type) -> list[Any]:
        """What earlier handlers of this event recorded of `model`, in recording order."""
        return [fact for fact in self.facts if isinstance(fact, model)]


class ParkEvent(Exception):  # an instruction to the processor, not an error
    """Raised by a handler when the event's player (or other identifier) is not known yet.

    `known_now` asks again whether (system, external_id) is known: the processor calls it
    while it holds the identifier's park lock, in a new transaction, just before it records the
    park (see `apps.integrations.inbound.parking`). The handler's lookup ran in the handlers'
    transaction, which may have started before a registration of the identifier committed; the
    re-check sees that commit, and the event is run again instead of parked. The handler that
    looked the identifier up is the one that knows how to ask (the mappings side, which this
    app may not import). Without it the event parks as it is and waits for an unpark or the
    periodic recheck.
    """

    def __init__(
        self,
        system: str,
        external_id: str,
        reason: str = "",
        *,
        known_now: Callable[[], bool] | None = None,
    ) -> None:
        self.system = str(system)
        self.external_id = str(external_id)
        self.reason = reason or f"No player mapped for {system}:{external_id}"
        self.known_now = known_now
        super().__init__(self.reason)


class RejectEvent(Exception):  # an instruction to the processor: dead-letter, don't retry
    """Raised by a handler when retrying cannot help; the event is dead-lettered with `reason`."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


Handler = Callable[[EventContext], None]

_handlers: dict[str, list[Handler]] = {}


@dataclass(frozen=True)
class FieldLimit:
    """The longest text a handler can store for one `data` field: a string, or for an object
    field ({system: id}) each value; `key_pattern`, when set, is what each key must match."""

    max_length: int
    key_pattern: re.Pattern | None = None


_limits: dict[str, dict[str, FieldLimit]] = {}


def limit(
    event_type: str, field_name: str, max_length: int, *, key_pattern: re.Pattern | None = None
) -> None:
    """Declare that handlers of `event_type` store `data[field_name]` in a column of
    `max_length` characters (pass the model field's own max_length); the door refuses longer
    values with 422. Declaring a field again keeps the smaller length."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"Unknown event type {event_type!r}.")
    current = _limits.setdefault(event_type, {}).get(field_name)
    if current is not None:
        max_length = min(max_length, current.max_length)
        key_pattern = key_pattern or current.key_pattern
    _limits[event_type][field_name] = FieldLimit(max_length, key_pattern)


def limits_for(event_type: str) -> dict[str, FieldLimit]:
    return _limits.get(event_type, {})


def install(pipelines: Mapping[str, Sequence[Handler]]) -> None:
    """Make `pipelines` (event type -> its handlers, in order) what the registry runs: every
    event type has one, and nothing else is registered (apps/pipeline/pipelines.py)."""
    unknown = sorted(set(pipelines) - EVENT_TYPES)
    if unknown:
        raise ValueError(f"Pipelines for unknown event types: {', '.join(unknown)}.")
    missing = sorted(EVENT_TYPES - set(pipelines))
    if missing:
        raise ValueError(f"No pipeline declared for: {', '.join(missing)}.")
    for event_type, handlers in pipelines.items():
        for handler in handlers:
            if not callable(handler):
                raise TypeError(f"Handler for {event_type} is not callable: {handler!r}")
    _handlers.clear()
    _handlers.update({event_type: list(handlers) for event_type, handlers in pipelines.items()})


def register(event_type: str, handler: Handler) -> Handler:
    """Tests: add `handler` for `event_type` after the declared ones. Returns the handler."""
    if event_type not in EVENT_TYPES:
        raise ValueError(
            f"Unknown event type {event_type!r}; known: {', '.join(sorted(EVENT_TYPES))}."
        )
    if not callable(handler):
        raise TypeError(f"Handler for {event_type} is not callable: {handler!r}")
    handlers = _handlers.setdefault(event_type, [])
    if handler not in handlers:
        handlers.append(handler)
    return handler


def unregister(event_type: str, handler: Handler) -> None:
    """Remove a handler (tests; a no-op if it is not registered)."""
    handlers = _handlers.get(event_type, [])
    if handler in handlers:
        handlers.remove(handler)


def handlers_for(event_type: str) -> tuple[Handler, ...]:
    return tuple(_handlers.get(event_type, ()))


def snapshot() -> dict[str, list[Handler]]:
    """A copy of the registry (handlers only; limits are declared once), to restore after a
    test swaps handlers."""
    return {event_type: list(handlers) for event_type, handlers in _handlers.items()}


def restore(saved: dict[str, list[Handler]]) -> None:
    _handlers.clear()
    _handlers.update({event_type: list(handlers) for event_type, handlers in saved.items()})
