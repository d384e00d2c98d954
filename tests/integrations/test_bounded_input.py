"""Bounded input at the intake (issue 11): webhooks, batch items and polled pages refuse nesting
deeper than MAX_JSON_DEPTH, NUL characters and non-ASCII amounts, naming the field, before
anything is queued. What a signed sender sent is still kept (WEBHOOKS.md §1), in a form that
cannot hurt what reads it later: a webhook body as text, a batch or poll item clipped.
"""

import datetime as dt
import json

import pytest
from django.utils import timezone

from apps.core.bounded import CLIPPED_MARKER, MAX_JSON_DEPTH, json_violations
from apps.integrations.models import InboundEvent
from apps.integrations.polling.adapters import GenericAdapter, Mt5DealsAdapter, PageFormatError
from apps.integrations.polling.services import integration_poll, poll_config_save

from .conftest import load_fixture
from .factories import IntegrationFactory
from .polling_source import PollSource, envelope


def nested_json(depth: int, leaf: str = '"x"') -> str:
    """A JSON array `depth` levels deep, written as text (recursive encoders fail on it)."""
    return "[" * depth + leaf + "]" * depth


def deposit_with(extra_json: str, *, event_id: str | None = None) -> bytes:
    """A valid deposit envelope whose data carries one more field, given as JSON text."""
    head = f'{{"id": "{event_id}", ' if event_id else "{"
    return (
        head
        + '"type": "deposit.created", "timestamp": "2026-11-27T10:15:00Z", "data": {"deposit_id": '
        '"D-1", '
        f'"player_id": "C-1", "amount": "50.00", "currency": "EUR", "extra": {extra_json}}}}}'
    ).encode()


@pytest.fixture
def post_webhook(post_webhook, django_capture_on_commit_callbacks):
    """The signed POST, with what it enqueues after commit published (see `published`)."""

    def post(*args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return post_webhook(*args, **kwargs)

    return post


def assert_problem(response, status):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    return response.json()


# --- the limit itself -------------------------------------------------------------------------


def test_the_limit_counts_the_body_as_the_first_level():
    envelope = {"data": {"extra": None}}  # body 1, data 2, extra's containers from 3 on
    inner = "x"
    for _ in range(MAX_JSON_DEPTH - 2):
        inner = [inner]
    envelope["data"]["extra"] = inner
    assert json_violations(envelope) == {}
    envelope["data"]["extra"] = [inner]
    assert json_violations(envelope) == {
        "data.extra" + ".0" * (MAX_JSON_DEPTH - 2): [
            f"Nested deeper than {MAX_JSON_DEPTH} levels of objects and arrays."
        ]
    }


# --- single webhooks --------------------------------------------------------------------------


def test_a_webhook_at_the_nesting_limit_is_accepted(post_webhook, published):
    response = post_webhook(deposit_with(nested_json(MAX_JSON_DEPTH - 2)))
    assert response.status_code == 202, response.content


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH - 1, 1_000])
def test_a_webhook_nested_too_deep_is_a_422_naming_the_field_and_kept_as_text(
    post_webhook, published, depth
):
    body = deposit_with(nested_json(depth))
    problem = assert_problem(post_webhook(body), 422)
    [(field, messages)] = problem["errors"].items()
    assert field.startswith("data.extra.0.0") and "Nested deeper than" in messages[0]
    event = InboundEvent.objects.get(pk=problem["event_id"])
    assert (event.status, event.event_type, event.payload) == ("invalid", "deposit.created", {})
    assert event.raw_body == body.decode()  # nothing the sender sent is lost
    assert published == []  # never queued


def test_a_webhook_deeper_than_the_parser_reads_is_a_400_kept_as_text(post_webhook, published):
    body = deposit_with(nested_json(2_000))
    problem = assert_problem(post_webhook(body), 400)
    event = InboundEvent.objects.get(pk=problem["event_id"])
    assert (event.status, event.payload, event.raw_body) == ("invalid", {}, body.decode())
    assert published == []


@pytest.mark.parametrize(
    "body, field",
    [
        (
            b'{"type": "deposit.created", "timestamp": "2026-11-27T10:15:00Z", "data": '
            b'{"deposit_id": "D-1", '
            b'"player_id": "C\\u0000-1", "amount": "50.00", "currency": "EUR"}}',
            "data.player_id",
        ),
        (
            b'{"type": "deposit.created", "timestamp": "2026-11-27T10:15:00Z", "data": '
            b'{"deposit_id": "D-1", '
            b'"player_id": "C-1", "amount": "50.00", "currency": "EUR", "no\\u0000te": 1}}',
            "data.no\\u0000te",
        ),
        (b'{"a": "\\u0000"}', "a"),
    ],
)
def test_a_nul_anywhere_is_a_422_naming_the_field(post_webhook, published, body, field):
    problem = assert_problem(post_webhook(body), 422)
    assert field in problem["errors"]
    event = InboundEvent.objects.get(pk=problem["event_id"])
    assert (event.status, event.payload, event.raw_body) == ("invalid", {}, body.decode())
    assert published == []


# Arabic-Indic "123.45", full-width "99", "1,5" with the Arabic decimal separator, Devanagari
# "1": Python's Decimal() reads them all.
@pytest.mark.parametrize(
    "amount", ["\u0661\u0662\u0663.\u0664\u0665", "\uff19\uff19", "1\u066b5", "\u0967"]
)
def test_amounts_are_ascii_decimal_strings_only(post_webhook, published, amount):
    envelope = load_fixture("deposit_created.json")
    envelope["data"]["amount"] = amount
    problem = assert_problem(post_webhook(envelope), 422)
    assert "data.amount" in problem["errors"]


def test_a_tracking_token_longer_than_its_column_is_refused(post_webhook, published):
    envelope = load_fixture("player_registered.json")
    envelope["data"]["tracking_token"] = "t" * 100
    problem = assert_problem(post_webhook(envelope), 422)
    assert problem["errors"] == {"data.tracking_token": ["At most 64 characters."]}
    assert published == []


# --- batches ----------------------------------------------------------------------------------


def batch_of(*items: bytes) -> bytes:
    return b'{"events": [' + b", ".join(items) + b"]}"


def test_a_batch_item_nested_1000_deep_is_invalid_on_its_own_and_the_others_are_accepted(
    post_webhook, published
):
    deep = deposit_with(nested_json(1_000), event_id="evt_deep")
    good = deposit_with('"fine"', event_id="evt_good")
    response = post_webhook(batch_of(deep, good), batch=True, webhook_id="batch_1")
    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["accepted"], body["invalid"]) == (1, 1)
    [item] = body["invalid_items"]
    assert item["index"] == 0 and item["id"] == "evt_deep"
    assert all(key.startswith("data.extra.0") for key in item["errors"])
    stored = InboundEvent.objects.get(webhook_id="evt_deep")
    assert stored.status == "invalid"
    assert json_violations(stored.payload) == {}  # kept clipped: storable and renderable
    assert CLIPPED_MARKER in str(stored.payload)
    assert [args for _, args, _ in published] == [
        [InboundEvent.objects.get(webhook_id="evt_good").pk]
    ]


def test_the_same_deep_item_again_is_a_duplicate(post_webhook, published):
    deep = deposit_with(nested_json(1_000), event_id="evt_deep")
    post_webhook(batch_of(deep), batch=True, webhook_id="batch_1")
    again = post_webhook(batch_of(deep), batch=True, webhook_id="batch_2").json()
    assert (again["invalid"], again["conflict"]) == (1, 0)
    assert InboundEvent.objects.count() == 1


def test_a_batch_item_with_a_nul_in_its_id_or_data_is_invalid_and_stored(post_webhook, published):
    nul_id = deposit_with('"x"', event_id="evt\\u0000bad")
    nul_data = deposit_with('"a\\u0000b"', event_id="evt_nul")
    body = post_webhook(batch_of(nul_id, nul_data), batch=True, webhook_id="batch_nul").json()
    assert body["invalid"] == 2
    errors = {item["id"]: item["errors"] for item in body["invalid_items"]}
    assert errors["batch_nul#0"] == {
        "id": ["Contains a NUL character (\\u0000), which cannot be stored."]
    }
    assert errors["evt_nul"] == {
        "data.extra": ["Contains a NUL character (\\u0000), which cannot be stored."]
    }
    assert InboundEvent.objects.get(webhook_id="evt_nul").payload["data"]["extra"] == "a\ufffdb"


def test_a_batch_body_too_deep_without_events_is_a_422_kept_as_text(post_webhook, published):
    body = b'{"other": ' + nested_json(1_000).encode() + b"}"
    problem = assert_problem(post_webhook(body, batch=True, webhook_id="batch_deep"), 422)
    assert "events" in problem["errors"] and any(
        key.startswith("other.0") for key in problem["errors"]
    )
    event = InboundEvent.objects.get(pk=problem["event_id"])
    assert (event.payload, event.raw_body) == ({}, body.decode())


# --- polled pages -----------------------------------------------------------------------------


def test_a_polled_page_with_an_item_nested_1000_deep_parses_safely():
    body = (
        b'{"events": ['
        + deposit_with(nested_json(1_000), event_id="p_deep")
        + b'], "next_cursor": null}'
    )
    page = GenericAdapter().parse(body)
    assert len(page.events) == 1  # parsed safely; the item is judged by the store


@pytest.mark.django_db(transaction=True)
def test_a_poll_run_over_a_page_nested_1000_deep_keeps_the_valid_items():
    integration = IntegrationFactory(slug="crm-poll-deep")
    source = PollSource().start()
    try:
        now = timezone.now()
        good = envelope("p_good", now - dt.timedelta(minutes=10))
        body = (
            b'{"events": ['
            + deposit_with(nested_json(1_000), event_id="p_deep")
            + b", "
            + json.dumps(good).encode()
            + b'], "next_cursor": null}'
        )
        source.answer = lambda query: (200, {}, body)
        poll_config_save(integration=integration, url=source.url, page_size=10)
        run = integration_poll(integration_id=integration.pk)
    finally:
        source.stop()
    assert run.status == "succeeded", run.error
    assert (run.polled, run.recovered, run.failed) == (2, 1, 1)
    deep = InboundEvent.objects.get(webhook_id="p_deep")
    assert deep.status == "invalid" and any(key.startswith("data.extra.0") for key in deep.errors)
    assert InboundEvent.objects.get(webhook_id="p_good").status == "received"


@pytest.mark.parametrize(
    "body",
    [
        b'{"server": "s", "deals": [], "next": null, "x": ' + nested_json(1_000).encode() + b"}",
        b'{"server": "s", "deals": [], "next": null, "x": ' + nested_json(5_000).encode() + b"}",
        b'{"server": "s\\u0000", "deals": [], "next": null}',
    ],
)
def test_an_mt5_page_out_of_bounds_is_a_page_format_error(body):
    with pytest.raises(PageFormatError):
        Mt5DealsAdapter().parse(body)


def test_a_generic_page_deeper_than_the_parser_reads_is_a_page_format_error():
    with pytest.raises(PageFormatError):
        GenericAdapter().parse(b'{"events": ' + nested_json(5_000).encode() + b"}")


def test_a_poll_cursor_with_a_nul_is_a_page_format_error():
    with pytest.raises(PageFormatError):
        GenericAdapter().parse(b'{"events": [], "next_cursor": "c\\u0000"}')
