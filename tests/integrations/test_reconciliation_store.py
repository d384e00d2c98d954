"""PageStore (each page's lookup while the page before it is stored) and the multi-event store
path it shares with batches (binary bound arrays): outcomes, counts and what a failure leaves."""

import datetime as dt
import time

import pytest
from django.db import DataError, connection, transaction
from django.utils import timezone

from apps.integrations.inbound import public as inbound_public
from apps.integrations.inbound import services
from apps.integrations.models import (
    EventSource,
    InboundConflict,
    InboundEvent,
    ReconciliationRun,
    RecoveredEvent,
)
from apps.integrations.polling import pages as polling
from apps.integrations.polling.pages import PageStore

from .factories import IntegrationFactory
from .polling_source import envelope

pytestmark = pytest.mark.django_db(transaction=True)
NOW = timezone.now()


@pytest.fixture
def integration():
    return IntegrationFactory(slug="crm-store")


@pytest.fixture
def run(integration):
    return ReconciliationRun.objects.create(
        integration=integration,
        trigger=ReconciliationRun.Trigger.BACKFILL,
        window_start=NOW - dt.timedelta(days=1),
        window_end=NOW,
        requested_by="test",
    )


def _items(*ids: str) -> list[dict]:
    return [envelope(event_id, NOW - dt.timedelta(minutes=n)) for n, event_id in enumerate(ids)]


def _incoming(integration, item, *, source_body=None) -> services.IncomingEvent:
    body = source_body or item
    return services.incoming_event(
        integration_kind=integration.kind,
        webhook_id=item["id"],
        envelope=body,
        body_hash=services.item_hash(body),
        require_id=True,
    )


def _counts(run) -> tuple:
    run.refresh_from_db()
    return (
        run.pages,
        run.polled,
        run.already_received,
        run.previously_polled,
        run.recovered,
        run.failed,
    )


def test_many_events_store_new_duplicate_conflict_and_invalid_like_one_by_one(
    integration, published
):
    stored, other = _items("stored", "other")
    services.inbound_event_store(
        integration_id=integration.pk, event=_incoming(integration, stored), source="webhook"
    )
    services.inbound_event_store(
        integration_id=integration.pk, event=_incoming(integration, other), source="webhook"
    )
    changed = {**other, "data": {**other["data"], "amount": "99.00"}}
    invalid = {**_items("bad")[0], "timestamp": "yesterday"}
    fresh = _items("fresh")[0]
    repeated = dict(fresh)  # the same id and body twice in one call
    published.clear()

    with transaction.atomic():
        results = services.inbound_events_store(
            integration_id=integration.pk,
            events=[
                _incoming(integration, item) for item in (fresh, stored, changed, invalid, repeated)
            ],
            source=EventSource.POLL,
        )

    assert [r.outcome for r in results] == [
        "accepted",
        "duplicate",
        "conflict",
        "accepted",
        "duplicate",
    ]
    assert [r.status for r in results] == [
        "received",
        "received",
        "received",
        "invalid",
        "received",
    ]
    assert results[4].event_id == results[0].event_id
    assert results[3].errors and "timestamp" in results[3].errors
    row = InboundEvent.objects.get(pk=results[0].event_id)
    assert (row.source, row.payload, row.occurred_at) == (
        "poll",
        fresh,
        dt.datetime.fromisoformat(fresh["timestamp"]),
    )
    conflict = InboundConflict.objects.get()
    assert (conflict.original_id, conflict.payload, conflict.source) == (
        results[2].event_id,
        changed,
        "poll",
    )
    assert [args for _, args, _ in published] == [
        [results[0].event_id]
    ]  # only the valid new one, once


def test_pages_are_counted_and_stored_with_previous_polls_and_repeats(integration, run):
    services.inbound_event_store(
        integration_id=integration.pk,
        event=_incoming(integration, _items("hooked")[0]),
        source="webhook",
    )
    earlier = _items("polled-before")[0]
    services.inbound_events_store(
        integration_id=integration.pk,
        events=[_incoming(integration, earlier)] * 2,
        source=EventSource.POLL,
    )
    pages = [
        _items("hooked", "a", "polled-before", "a"),  # "a" twice in one page
        _items("b", "a"),  # "a" again in the next page, stored meanwhile
        _items("c", "b", "hooked"),
    ]
    with PageStore(integration=integration, run=run) as store:
        for page in pages:
            store.add(page)
        store.flush()

    # polled 9; missing a, b, c; already received: the other 6, of which 4 were stored by polls.
    assert _counts(run) == (3, 9, 6, 4, 3, 0)
    assert set(
        InboundEvent.objects.filter(recovery__run=run).values_list("webhook_id", flat=True)
    ) == {"a", "b", "c"}
    assert InboundEvent.objects.filter(integration=integration).count() == 5


def test_a_page_that_fails_to_store_leaves_nothing_and_keeps_the_pages_before(
    integration, run, monkeypatch
):
    broken = _items("bad-1", "bad-2")
    insert = services.inbound_events_store

    def insert_then_fail(*, events, **kwargs):  # the database refuses the page once its rows are in
        results = insert(events=events, **kwargs)
        if any(event.webhook_id == "bad-2" for event in events):
            raise DataError("The database refused the page.")
        return results

    monkeypatch.setattr(inbound_public, "inbound_events_store", insert_then_fail)
    store = PageStore(integration=integration, run=run)
    store.add(_items("ok-1", "ok-2"))
    store.add(broken)  # stores the first page meanwhile
    with pytest.raises(DataError, match="refused the page"):
        store.add(_items("later"))  # storing the broken page fails: "later" is dropped too
    assert store.flush() == []
    store.close()

    assert _counts(run) == (1, 2, 0, 0, 2, 0)
    assert set(InboundEvent.objects.values_list("webhook_id", flat=True)) == {"ok-1", "ok-2"}
    assert RecoveredEvent.objects.count() == 2


def test_inside_a_transaction_the_lookup_runs_on_the_same_connection(integration, run):
    with transaction.atomic():
        services.inbound_event_store(
            integration_id=integration.pk,
            event=_incoming(integration, _items("uncommitted")[0]),
            source="webhook",
        )
        counts = polling.store_polled_page(
            integration=integration, run=run, events=_items("uncommitted", "new")
        )
    assert (counts.polled, counts.already_received, counts.recovered) == (2, 1, 1)


def test_the_lookup_connection_is_closed_with_the_store(integration, run):
    def backends() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            )
            return cursor.fetchone()[0]

    before = backends()
    with PageStore(integration=integration, run=run) as store:
        store.add(_items("x"))
        assert backends() == before + 1
        store.flush()
    deadline = time.monotonic() + 5
    while backends() > before and time.monotonic() < deadline:  # the backend exits just after
        time.sleep(0.05)
    assert backends() == before
