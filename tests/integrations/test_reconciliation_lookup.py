"""How a page's stored ids are found (apps/integrations/polling/sql.py): a range scan of the key
index while the page's ids lie together, a lookup per id when they do not, the same answer
either way, and a run that switches to lookups for good once a page's range overflowed."""

import datetime as dt

import pytest
from django.utils import timezone

from apps.integrations.inbound import services
from apps.integrations.models import EventSource, ReconciliationRun
from apps.integrations.polling import sql
from apps.integrations.polling.pages import PageStore

from .factories import IntegrationFactory
from .polling_source import envelope

pytestmark = pytest.mark.django_db(transaction=True)
NOW = timezone.now()


@pytest.fixture
def integration():
    return IntegrationFactory(slug="crm-lookup")


def _store(integration, ids, source=EventSource.WEBHOOK):
    services.inbound_events_store(
        integration_id=integration.pk,
        events=[
            services.incoming_event(
                integration_kind=integration.kind,
                webhook_id=event_id,
                envelope=envelope(event_id, NOW),
                body_hash=services.item_hash(envelope(event_id, NOW)),
                require_id=True,
            )
            for event_id in ids
        ],
        source=source,
    )


def _both_ways(integration, ids):
    spanned, together = sql.absent_from_store(integration_id=integration.pk, ids=ids)
    looked_up, by_id = sql.absent_from_store(integration_id=integration.pk, ids=ids, span=False)
    assert sorted(spanned, key=str) == sorted(looked_up, key=str)
    assert by_id is False
    return sorted(spanned, key=str), together


def test_ids_lying_together_are_found_by_one_range_with_the_same_answer(integration):
    _store(integration, [f"evt-{n:03d}" for n in range(0, 40) if n not in (12, 13)])
    _store(integration, ["evt-013"], source=EventSource.POLL)
    page = ["evt-010", "evt-011", "evt-012", "evt-012", "evt-013", "evt-014", "evt-0141"]

    rows, together = _both_ways(integration, page)

    assert together is True
    # evt-012 twice (positions 3 and 4) and evt-0141 are missing; evt-013 was stored by a poll.
    assert rows == [(0, "evt-013"), (3, None), (4, None), (7, None)]


def test_ids_spread_over_the_index_fall_back_to_the_lookup_with_the_same_answer(integration):
    _store(integration, [f"evt-{n:03d}" for n in range(0, 100)])
    page = ["evt-000", "evt-099", "zzz-new"]  # 100 stored keys between the bounds: > 2 x 3 + 1

    rows, together = _both_ways(integration, page)

    assert together is False
    assert rows == [(3, None)]


def test_ids_holding_a_newline_are_found_both_ways(integration):
    _store(integration, ["a\nb", "a\nc"])

    rows, together = _both_ways(integration, ["a\nb", "a\nbb", "a\nc"])

    assert together is True
    assert rows == [(2, None)]


def test_a_run_looks_ids_up_one_by_one_after_a_page_whose_range_overflowed(integration):
    _store(integration, [f"evt-{n:03d}" for n in range(0, 100)])
    run = ReconciliationRun.objects.create(
        integration=integration,
        trigger=ReconciliationRun.Trigger.BACKFILL,
        window_start=NOW - dt.timedelta(days=1),
        window_end=NOW,
        requested_by="test",
    )
    pages = [
        [envelope(i, NOW) for i in ("evt-001", "evt-002", "evt-0025")],  # together
        [envelope(i, NOW) for i in ("evt-000", "evt-099", "zzz-new")],  # spread: overflows
        [envelope(i, NOW) for i in ("evt-003", "evt-004", "evt-0045")],  # would fit
    ]
    modes = []
    with PageStore(integration=integration, run=run) as store:
        for page in pages:
            store.add(page)
            modes.append(store.span)
        store.flush()

    assert modes == [True, False, False]
    run.refresh_from_db()
    assert (run.polled, run.already_received, run.recovered) == (9, 6, 3)
