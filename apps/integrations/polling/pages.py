"""Reconciling polled pages (WEBHOOKS.md §5): anti-join each page as it arrives, store what is
missing, one page per transaction. See apps/integrations/polling/services.py for the run around
it, and `PageStore` for the rules."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from concurrent.futures import wait
from dataclasses import dataclass

from django.db import connection, transaction

from apps.integrations.inbound import public as inbound
from apps.integrations.models import EventSource, EventStatus, Integration, ReconciliationRun
from apps.integrations.polling import sql
from apps.integrations.polling.threads import ReadingHelper


@dataclass
class PageCounts:
    polled: int = 0
    already_received: int = 0
    previously_polled: int = 0
    recovered: int = 0
    failed: int = 0


STORE_CHUNK = 5_000  # events per inbound_events_store call (one INSERT)


def polled_event_id(item) -> str:
    """The item's id (the source's event id, the same as its webhook-id); items without a usable
    id get one derived from their content, so polling them again stays idempotent."""
    item_id = item.get("id") if isinstance(item, dict) else None
    if inbound.usable_event_id(item_id, max_length=inbound.MAX_ID_LENGTH):
        return item_id
    return f"poll:{inbound.item_hash(item)}"


def _page_ids(events: list) -> list[str]:
    """Each item's id (see polled_event_id), with a fast path for pages where every id is usable."""
    try:
        ids = [item["id"] for item in events]
    except (TypeError, KeyError):
        return [polled_event_id(item) for item in events]
    if (
        ids
        and set(map(type, ids)) == {str}
        and min(map(len, ids)) > 0
        and max(map(len, ids)) <= inbound.MAX_ID_LENGTH
        and "\x00" not in "".join(ids)
    ):
        return ids
    return [polled_event_id(item) for item in events]


def _absent(integration_id: int, ids: list[str], span: bool) -> tuple[list[int], int, bool]:
    """The 1-based positions of the page's items not stored yet, how many of its items a poll
    stored, and whether its ids lay together in the key index (see sql.absent_from_store)."""
    if not ids:
        return [], 0, span
    rows, together = sql.absent_from_store(integration_id=integration_id, ids=ids, span=span)
    polled = {webhook_id for position, webhook_id in rows if not position}
    positions = sorted(position for position, _ in rows if position)
    return positions, sum(webhook_id in polled for webhook_id in ids) if polled else 0, together


@dataclass
class _PageLookup:
    """A page's missing items, validated and shaped for the store (in page order), and how many
    of its items an earlier poll stored."""

    missing: list[inbound.IncomingEvent]
    previously_polled: int
    together: bool  # the page's ids lay together in the key index


def _lookup(
    integration: Integration, events: Sequence, span: bool = True, ids: list[str] | None = None
) -> _PageLookup:
    """`ids`: each event's id when the adapter read them already (then only the missing events
    are read from `events`: an NDJSON page parses those alone)."""
    ids = _page_ids(events) if ids is None else ids
    positions, previously_polled, together = _absent(integration.pk, ids, span)
    missing = [
        inbound.incoming_event(
            integration_kind=integration.kind,
            webhook_id=ids[position - 1],
            envelope=events[position - 1],
            body_hash=inbound.item_hash(events[position - 1]),
            require_id=True,
        )
        for position in positions
    ]
    return _PageLookup(missing=missing, previously_polled=previously_polled, together=together)


@dataclass
class _PendingPage:
    """A page looked up and not stored yet."""

    counts: PageCounts
    missing: list[inbound.IncomingEvent]
    skipped: int = 0


class PageStore:
    """Reconciles a run's pages: `add` each page as it arrives, `flush` at the end, then `close`
    (or use it as a context manager).

    `add` finds the page's missing items (one query, outside any transaction) while it stores
    the page before it: in one transaction, that page's missing events (validated now), their
    RecoveredEvent rows and the run's counters (pages, polled, already received, recovered,
    failed, skipped), so the counts always match what is stored and a page is never stored in
    part. The lookup runs in a helper thread on its own connection (see
    apps.integrations.polling.threads.ReadingHelper; on this
    thread's connection inside an atomic block, where another connection would not see the
    block's rows). At most two pages are held: the one being looked up, the one being stored.

    When storing a page fails, its error is raised and nothing of it is kept; the pages before
    it are stored, the page whose lookup ran meanwhile is dropped (the next run polls it again).
    An id repeated within a page, or in the page after the one holding it, counts as previously
    polled, as it would if the first had been stored already.
    """

    def __init__(self, *, integration: Integration, run: ReconciliationRun):
        self.integration = integration
        self.run = run
        self.pending: _PendingPage | None = None
        self.last_stored_ids: set[str] = set()
        # Range scans of the key index while pages' ids lie together; per-id lookups for the
        # rest of the run once one page's did not (sql.absent_from_store).
        self.span = True
        self.lookups = (
            None if connection.in_atomic_block else ReadingHelper(_lookup, name="poll-lookup")
        )

    def __enter__(self) -> PageStore:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def add(self, events: Sequence, *, skipped: int = 0, ids: list[str] | None = None) -> None:
        """`ids`: each event's id (polled_event_id), when the adapter read them already."""
        lookup = self._lookup_while_storing_pending(events, ids)
        counts = PageCounts(polled=len(events), previously_polled=lookup.previously_polled)
        taken = self.last_stored_ids
        missing: list[inbound.IncomingEvent] = []
        for event in lookup.missing:
            if (
                event.webhook_id in taken
            ):  # the same id earlier in this page or in the page stored last
                counts.previously_polled += 1
                continue
            taken.add(event.webhook_id)
            missing.append(event)
        counts.already_received = counts.polled - len(missing)
        self.pending = _PendingPage(counts=counts, missing=missing, skipped=skipped)

    def _lookup_while_storing_pending(self, events: Sequence, ids: list[str] | None) -> _PageLookup:
        if self.lookups is None:
            self.flush()
            result = _lookup(self.integration, events, self.span, ids)
        else:
            lookup = self.lookups.submit(self.integration, events, self.span, ids)
            try:
                self.flush()
            except BaseException:
                wait([lookup])  # never leave the helper's query running behind an error
                raise
            result = lookup.result()
        self.span = self.span and result.together
        return result

    def flush(self) -> list[PageCounts]:
        """Store the pending page; returns its final counts (none when no page was pending)."""
        page, self.pending = self.pending, None
        self.last_stored_ids = set()
        if page is None:
            return []
        self._commit(page)
        self.last_stored_ids = {event.webhook_id for event in page.missing}
        return [page.counts]

    def close(self) -> None:
        if self.lookups is not None:
            self.lookups.close()
            self.lookups = None

    def _commit(self, page: _PendingPage) -> None:
        counts = dataclasses.replace(page.counts)  # applied only once committed
        recovered_ids: list[int] = []
        with transaction.atomic():
            for start in range(0, len(page.missing), STORE_CHUNK):
                results = inbound.inbound_events_store(
                    integration_id=self.integration.pk,
                    events=page.missing[start : start + STORE_CHUNK],
                    source=EventSource.POLL,
                )
                for result in results:
                    _count_stored(result, counts, recovered_ids)
            sql.page_stored(
                run_id=self.run.pk,
                recovered_ids=recovered_ids,
                skipped=page.skipped,
                counters={name: getattr(counts, name) for name in _COUNTERS},
            )
        page.counts = counts


def _count_stored(
    result: inbound.StoreResult, counts: PageCounts, recovered_ids: list[int]
) -> None:
    if result.outcome == inbound.ACCEPTED:
        recovered_ids.append(result.event_id)
        if result.status == EventStatus.INVALID:
            counts.failed += 1
        else:
            counts.recovered += 1
    elif result.outcome == inbound.DUPLICATE:
        counts.already_received += 1  # a webhook won the race since the anti-join
    else:
        counts.failed += 1  # same id, different body: kept as an InboundConflict


_COUNTERS = ("polled", "already_received", "previously_polled", "recovered", "failed")


def store_polled_page(
    *, integration: Integration, run: ReconciliationRun, events: list
) -> PageCounts:
    """Reconcile one page in one transaction: count what is stored, store what is missing."""
    with PageStore(integration=integration, run=run) as store:
        store.add(events)
        return store.flush()[0]
