"""The generic poll contract as NDJSON pages (PollConfig adapter `generic_ndjson`): reading a
page's ids without parsing its events, the fallback for lines that do not start with their id,
malformed lines and cursor lines, and whole polls against a local source."""

import datetime as dt
import json

import orjson
import pytest
from django.utils import timezone

from apps.integrations.inbound import public as inbound
from apps.integrations.inbound import services
from apps.integrations.models import InboundEvent, PollConfig, ReconciliationRun, RecoveredEvent
from apps.integrations.polling.adapters import (
    GenericAdapter,
    GenericNdjsonAdapter,
    PageFormatError,
    adapter_for,
)
from apps.integrations.polling.pages import polled_event_id
from apps.integrations.polling.services import integration_poll, poll_config_save

from .factories import IntegrationFactory
from .polling_source import PollSource, envelope

NOW = timezone.now()


def _page(lines: list[str], next_cursor=None) -> bytes:
    return "\n".join([*lines, json.dumps({"next_cursor": next_cursor})]).encode() + b"\n"


def _compact(item) -> str:
    return orjson.dumps(item).decode()


# --------------------------------------------------------------------------------------------
# Reading a page


def test_ids_are_read_from_the_lines_and_events_parsed_only_when_read():
    items = [envelope(f"evt-{n}", NOW - dt.timedelta(minutes=n)) for n in range(5)]
    page = GenericNdjsonAdapter().parse(_page([_compact(item) for item in items], "c2"))

    assert page.ids == [item["id"] for item in items]
    assert page.next_cursor == "c2" and page.skipped == 0 and len(page.events) == 5
    assert page.events._parsed == {}  # no event line was parsed to find the ids
    assert page.events[3] == items[3] and list(page.events._parsed) == [3]
    assert page.events[-1] == items[-1] and list(page.events) == items


# Items whose lines do not start with a usable id: parsed whole, given the same id as on a JSON
# page (the id when usable, else one derived from the content).
FALLBACK_ITEMS = [
    {"type": "x", "id": "id-not-first"},
    {"id": 'with "quotes" and \\ backslash'},
    {"id": "line\u2028separator é ü 漢"},  # not escaped by orjson: fast path, decoded as sent
    {"id": "x" * (inbound.MAX_ID_LENGTH + 1)},  # too long to be a stored id
    {"id": ""},
    {"id": 42},
    {"id": None, "type": "deposit.created"},
    {"type": "no id at all"},
    [1, 2, 3],
    "a string",
    {"id": "tab\there"},
]


def test_lines_without_a_leading_id_get_the_same_ids_as_on_a_json_page():
    lines = [_compact(item) for item in FALLBACK_ITEMS]
    lines.append('{"id": "spaced", "type": "x"}')  # a space after the colon: no fast path
    lines.append('{"id":"fast","type":"x"}')
    page = GenericNdjsonAdapter().parse(_page(lines))
    expected = [*FALLBACK_ITEMS, {"id": "spaced", "type": "x"}, {"id": "fast", "type": "x"}]

    json_page = GenericAdapter().parse(orjson.dumps({"events": expected, "next_cursor": None}))
    assert page.ids == [polled_event_id(item) for item in json_page.events]
    assert list(page.events) == expected


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "next_cursor"),
        (b"\n", "not JSON"),
        (b'{"id":"a","type":"x"}\n', "cursor line"),  # cut short: no cursor line
        (b'{"id":"a"}\n{"next_cursor":null,"more":1}\n', "cursor line"),
        (b'{"events": [], "next_cursor": null}', "cursor line"),  # a JSON page
        (b'{"id":"a"}\n{"next_cursor":{"x":1}}\n', "next_cursor"),
        (b'{"id":"a"}\n{"next_cursor":"a\\u0000b"}\n', "NUL"),
        (b'{"type": "x"\n{"next_cursor":null}\n', "Line 1 is not JSON"),
        (b'{"id":"a"}\n\n{"next_cursor":null}\n', "Line 2 is not JSON"),
        (b'{"id":"\xff"}\n{"next_cursor":null}\n', "UTF-8"),
    ],
)
def test_malformed_pages_are_refused(body, message):
    with pytest.raises(PageFormatError, match=message):
        GenericNdjsonAdapter().parse(body)


def test_a_line_starting_with_its_id_is_refused_when_it_is_read():
    page = GenericNdjsonAdapter().parse(
        _page(['{"id":"broken","type":', '{"id":"a","x":1,"id":"b"}', '{"id":"ok"}'])
    )
    assert page.ids == ["broken", "a", "ok"]
    assert page.events[2] == {"id": "ok"}
    with pytest.raises(PageFormatError, match="Line 1 is not JSON"):
        page.events[0]
    with pytest.raises(PageFormatError, match="Line 2: its id is not the one it starts with"):
        page.events[1]


def test_cursors_and_carriage_returns():
    adapter = GenericNdjsonAdapter()
    assert adapter.parse(b'{"next_cursor":12}').next_cursor == "12"
    assert adapter.parse(b'{"next_cursor":""}\n').next_cursor is None
    page = adapter.parse(b'{"id":"a","type":"x"}\r\n{"next_cursor":"c"}\r\n')
    assert page.ids == ["a"] and page.events[0] == {"id": "a", "type": "x"}
    assert page.next_cursor == "c"
    assert len(adapter.parse(b'{"next_cursor":null}').events) == 0


def test_the_adapter_is_chosen_by_the_poll_configuration():
    assert isinstance(adapter_for(PollConfig(adapter="generic_ndjson")), GenericNdjsonAdapter)
    assert adapter_for(PollConfig(adapter="generic_ndjson")).accept == "application/x-ndjson"
    assert type(adapter_for(PollConfig(adapter="generic"))) is GenericAdapter
    assert adapter_for(PollConfig(adapter="generic")).accept == "application/json"


# --------------------------------------------------------------------------------------------
# Polls end to end


@pytest.fixture(autouse=True)
def _fast_retries(settings):
    settings.AFFILIATEHUB_POLL_RETRY_BASE_SECONDS = 0.01
    settings.AFFILIATEHUB_POLL_RETRY_CAP_SECONDS = 0.05


@pytest.fixture
def source():
    server = PollSource().start()
    yield server
    server.stop()


@pytest.fixture
def integration(db):
    return IntegrationFactory(slug="crm-ndjson")


@pytest.fixture
def config(integration, source):
    return poll_config_save(
        integration=integration, url=source.url, page_size=3, adapter="generic_ndjson"
    )


def _webhook(integration, item):
    body = {k: v for k, v in item.items() if k != "id"}
    event = inbound.incoming_event(
        integration_kind=integration.kind,
        webhook_id=item["id"],
        envelope=body,
        body_hash=inbound.item_hash(body),
    )
    services.inbound_event_store(integration_id=integration.pk, event=event, source="webhook")


def _counts(run) -> tuple:
    return (
        run.pages,
        run.polled,
        run.already_received,
        run.previously_polled,
        run.recovered,
        run.failed,
    )


@pytest.mark.django_db(transaction=True)
def test_a_poll_stores_what_webhooks_missed_and_counts_the_rest(integration, source, config):
    items = [envelope(f"evt_{i}", NOW - dt.timedelta(hours=3, minutes=i)) for i in range(8)]
    items[6] = {**items[6], "data": {**items[6]["data"], "amount": 12.5}}  # invalid: a float
    items.append({"type": "deposit.created", "note": "no id"})  # parsed whole, derived id
    items.append(dict(items[7]))  # repeated in the next page
    source.items = items
    source._timestamp = lambda item: NOW - dt.timedelta(hours=3)  # every item in the window
    for item in items[:5]:
        _webhook(integration, item)

    run = integration_poll(integration_id=integration.pk)

    assert run.status == "succeeded", run.error
    assert source.headers_seen[0]["Accept"] == "application/x-ndjson"
    assert [r.get("cursor") for r in source.requests] == [None, "3", "6", "9"]
    # 10 polled: 5 by webhook; evt_5 recovered; evt_6 and the id-less item stored invalid
    # (failed); evt_7 recovered, then repeated in the next page (previously polled).
    assert _counts(run) == (4, 10, 6, 1, 2, 2)
    stored = InboundEvent.objects.filter(recovery__run=run)
    assert stored.count() == RecoveredEvent.objects.filter(run=run).count() == 4
    assert InboundEvent.objects.get(webhook_id="evt_5").payload == items[5]
    assert InboundEvent.objects.get(webhook_id="evt_6").status == "invalid"
    derived = polled_event_id(items[8])
    assert derived.startswith("poll:") and stored.get(webhook_id=derived).status == "invalid"

    again = integration_poll(
        integration_id=integration.pk,
        trigger=ReconciliationRun.Trigger.BACKFILL,
        since=run.window_start,
        until=run.window_end,
    )
    assert _counts(again) == (4, 10, 10, 5, 0, 0)
    assert InboundEvent.objects.filter(integration=integration).count() == 9


@pytest.mark.django_db(transaction=True)
def test_the_same_events_as_json_and_as_ndjson_are_stored_alike(source):
    items = [envelope(f"e{i}", NOW - dt.timedelta(minutes=10 + i)) for i in range(4)]
    items.append({"id": "x" * 300, "type": "deposit.created"})
    source.items = items
    source._timestamp = lambda item: NOW - dt.timedelta(minutes=10)
    stored = {}
    for adapter in ("generic", "generic_ndjson"):
        integration = IntegrationFactory(slug=f"crm-{adapter.replace('_', '-')}")
        poll_config_save(integration=integration, url=source.url, page_size=2, adapter=adapter)
        run = integration_poll(integration_id=integration.pk)
        assert _counts(run) == (3, 5, 0, 0, 4, 1), run.error
        stored[adapter] = sorted(
            InboundEvent.objects.filter(integration=integration).values_list(
                "webhook_id", "body_hash", "status", "payload"
            )
        )
    assert stored["generic"] == stored["generic_ndjson"]


@pytest.mark.django_db(transaction=True)
def test_a_malformed_line_not_stored_yet_fails_the_run_and_keeps_the_pages_before(
    integration, source, config
):
    items = [envelope(f"e{i}", NOW - dt.timedelta(minutes=30 - i)) for i in range(6)]
    source.items = items
    _webhook(integration, items[1])

    def lines(page):
        rendered = [_compact(item) for item in page]
        if page[0]["id"] == "e3":  # the second page: e4's line is cut in the middle
            rendered[1] = rendered[1][:40]
        return rendered

    source.lines = lines
    run = integration_poll(integration_id=integration.pk)

    assert run.status == "failed" and "PageFormatError" in run.error and "Line 2" in run.error
    assert _counts(run) == (1, 3, 1, 0, 2, 0)  # the first page only
    assert set(InboundEvent.objects.values_list("webhook_id", flat=True)) == {"e0", "e1", "e2"}
    config.refresh_from_db()
    assert config.last_window_end is None


@pytest.mark.django_db(transaction=True)
def test_a_malformed_line_of_an_event_stored_already_is_counted_by_its_id(
    integration, source, config
):
    items = [envelope(f"e{i}", NOW - dt.timedelta(minutes=30 - i)) for i in range(3)]
    source.items = items
    _webhook(integration, items[1])
    source.lines = lambda page: [
        _compact(item) if item["id"] != "e1" else '{"id":"e1","type":' for item in page
    ]
    run = integration_poll(integration_id=integration.pk)
    assert run.status == "succeeded", run.error
    assert _counts(run) == (1, 3, 1, 0, 2, 0)


@pytest.mark.django_db(transaction=True)
def test_a_source_answering_json_to_an_ndjson_poll_fails_the_run(integration, source, config):
    source.items = [envelope("a", NOW - dt.timedelta(minutes=3))]
    source.answer = lambda query: (
        200,
        {},
        json.dumps({"events": source.items, "next_cursor": None}).encode(),
    )
    run = integration_poll(integration_id=integration.pk)
    assert run.status == "failed" and "cursor line" in run.error
    assert InboundEvent.objects.count() == 0
