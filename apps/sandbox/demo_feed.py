"""The demo's inbound feed: back-dated facts sent through the same store and processing as
webhooks, on the sandbox's own integrations (so the player story, the ledger and the health
pages show them as events of those systems)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import orjson

from apps.integrations.inbound.public import (
    body_hash,
    inbound_event_process,
    inbound_events_store,
    incoming_event,
)
from apps.integrations.models import EventSource, Integration
from apps.sandbox.services import sandbox_endpoints_ensure
from apps.sandbox.world import COMPLIANCE, CRM, PAYMENTS, TRADING

# Events are stored a few at a time just before they are processed, so the time from receipt to
# processing (the health page's latency) stays what a worker keeping up would show.
STORE_CHUNK = 10


@dataclass(order=True)
class DemoEvent:
    """One fact to send: `at` orders processing (facts happen in time order)."""

    at: dt.datetime
    seq: int
    slug: str = field(compare=False)
    event_type: str = field(compare=False)
    data: dict = field(compare=False)

    @property
    def webhook_id(self) -> str:
        return f"demo-{self.seq:06d}"

    def envelope(self) -> dict:
        return {"type": self.event_type, "timestamp": self.at.isoformat(), "data": self.data}


class DemoFeed:
    """Collects facts, then, in time order, stores them a few at a time (one INSERT per
    integration, as a batch webhook would) and processes each (as the worker would)."""

    def __init__(self):
        sandbox_endpoints_ensure()
        self.integrations = {
            i.slug: i
            for i in Integration.objects.filter(slug__in=[CRM, TRADING, PAYMENTS, COMPLIANCE])
        }
        self.pending: list[DemoEvent] = []
        self.sent: list[tuple[DemoEvent, int]] = []
        self.outcomes: dict[str, int] = {}
        self._seq = 0

    def add(self, slug: str, event_type: str, data: dict, *, at: dt.datetime) -> DemoEvent:
        self._seq += 1
        event = DemoEvent(at=at, seq=self._seq, slug=slug, event_type=event_type, data=data)
        self.pending.append(event)
        return event

    def flush(self) -> dict[str, int]:
        """Store and process everything added so far; returns the outcomes counted."""
        events, self.pending = sorted(self.pending), []
        for start in range(0, len(events), STORE_CHUNK):
            chunk = events[start : start + STORE_CHUNK]
            ids = self._store(chunk)
            for event in chunk:
                outcome = inbound_event_process(event_id=ids[event.seq])
                self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
                self.sent.append((event, ids[event.seq]))
        return self.outcomes

    def _store(self, events: list[DemoEvent]) -> dict[int, int]:
        ids: dict[int, int] = {}
        by_slug: dict[str, list[DemoEvent]] = {}
        for event in events:
            by_slug.setdefault(event.slug, []).append(event)
        for slug, group in by_slug.items():
            integration = self.integrations[slug]
            incoming = [
                incoming_event(
                    integration_kind=integration.kind,
                    webhook_id=e.webhook_id,
                    envelope=e.envelope(),
                    body_hash=body_hash(orjson.dumps(e.envelope(), option=orjson.OPT_SORT_KEYS)),
                )
                for e in group
            ]
            results = inbound_events_store(
                integration_id=integration.pk, events=incoming, source=EventSource.BATCH
            )
            for event, result in zip(group, results, strict=True):
                if result.status != "received":
                    raise ValueError(f"Demo event {event.event_type} was refused: {result.errors}")
                ids[event.seq] = result.event_id
        return ids
