"""Poll adapters: the MT5 deals feed's units and codes, and the generic page contract."""

import datetime as dt
import json
from decimal import Decimal

import pytest

from apps.integrations.polling.adapters import (
    GenericAdapter,
    Mt5DealsAdapter,
    PageFormatError,
    WindowRequest,
    mt5_deal_envelope,
    mt5_time,
    mt5_volume_lots,
)

DEAL = {
    "Deal": 1234567,
    "Login": 800123,
    "Action": 1,
    "Entry": 1,
    "Symbol": "EURUSD",
    "Volume": 15000,
    "Price": 1.08321,
    "Profit": -12.5,
    "Storage": -0.35,
    "Commission": -3.0,
    "Time": 1764230400,
    "TimeMsc": 1764230400123,
    "PositionID": 99887,
}


@pytest.mark.parametrize(
    ("deal", "lots"),
    [
        ({"Volume": 10000}, Decimal("1")),
        ({"Volume": 100}, Decimal("0.01")),
        ({"Volume": 15000}, Decimal("1.5")),
        ({"Volume": 1}, Decimal("0.0001")),
        ({"Volume": 100, "VolumeExt": 1000000}, Decimal("0.01")),
        ({"Volume": 0, "VolumeExt": 123456}, Decimal("0.00123456")),
    ],
)
def test_volume_units(deal, lots):
    assert mt5_volume_lots(deal) == lots


def test_time_in_seconds_and_milliseconds_is_aware_utc():
    assert mt5_time({"Time": 1764230400}) == dt.datetime(2025, 11, 27, 8, 0, tzinfo=dt.UTC)
    at = mt5_time({"Time": 1764230400, "TimeMsc": 1764230400123})
    assert at == dt.datetime(2025, 11, 27, 8, 0, 0, 123000, tzinfo=dt.UTC) and at.tzinfo is dt.UTC


@pytest.mark.parametrize(("code", "entry"), [(0, "in"), (1, "out"), (2, "inout"), (3, "out_by")])
def test_entry_codes(code, entry):
    assert (
        mt5_deal_envelope({**DEAL, "Entry": code}, server="S", currency="USD")["data"]["entry"]
        == entry
    )


@pytest.mark.parametrize("action", [2, 3, 4, 5, 6, 7, 18])
def test_balance_credit_and_other_non_trading_deals_are_skipped(action):
    assert mt5_deal_envelope({**DEAL, "Action": action}, server="S", currency="USD") is None


def test_deal_becomes_a_canonical_trade_closed_envelope_with_exact_decimals():
    body = json.dumps(
        {
            "server": "MT5-Live-01",
            "currency": "USD",
            "deals": [DEAL, {**DEAL, "Deal": 5, "Action": 2}],
            "next": None,
        }
    )
    page = Mt5DealsAdapter().parse(body.encode())
    assert page.skipped == 1 and page.next_cursor is None
    (event,) = page.events
    assert event["id"] == "mt5:MT5-Live-01:1234567"
    assert event["type"] == "trade.closed"
    assert event["timestamp"] == "2025-11-27T08:00:00.123000Z"
    assert event["data"] == {
        "platform": "mt5",
        "server": "MT5-Live-01",
        "login": "800123",
        "deal_id": "1234567",
        "position_id": "99887",
        "symbol": "EURUSD",
        "volume_lots": "1.5",
        "entry": "out",
        "profit": "-12.5",
        "currency": "USD",
        "closed_at": "2025-11-27T08:00:00.123000Z",
        "swap": "-0.35",
        "commission": "-3",
        "price": "1.08321",
    }


def test_configured_server_wins_and_request_parameters_are_unix_seconds():
    adapter = Mt5DealsAdapter(server="mt5-demo")
    page = adapter.parse(json.dumps({"deals": [DEAL], "currency": "EUR"}).encode())
    assert page.events[0]["id"] == "mt5:mt5-demo:1234567"
    request = WindowRequest(
        since=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        until=dt.datetime(2026, 1, 2, tzinfo=dt.UTC),
        event_types=(),
        page_size=500,
        cursor="abc",
    )
    assert adapter.params(request) == {
        "from": "1767225600",
        "to": "1767312000",
        "limit": "500",
        "cursor": "abc",
    }


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"deals": {}}',
        b'{"deals": [{"Deal": "x"}]}',
        b'{"deals": [{"Deal": 1, "Action": 0, "Entry": 9, "Time": 1}]}',
    ],
)
def test_malformed_deal_pages_are_refused(body):
    with pytest.raises(PageFormatError):
        Mt5DealsAdapter(server="s").parse(body)


def test_generic_contract():
    adapter = GenericAdapter()
    page = adapter.parse(b'{"events": [{"id": "a"}], "next_cursor": "c2"}')
    assert page.events == [{"id": "a"}] and page.next_cursor == "c2"
    assert adapter.parse(b'{"events": [], "next_cursor": null}').next_cursor is None
    for bad in (b'{"next_cursor": null}', b'{"events": [], "next_cursor": {"x": 1}}', b"<html>"):
        with pytest.raises(PageFormatError):
            adapter.parse(bad)
    request = WindowRequest(
        since=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        until=dt.datetime(2026, 1, 2, 12, tzinfo=dt.UTC),
        event_types=("deposit.created", "kyc.updated"),
        page_size=100,
        cursor=None,
    )
    assert adapter.params(request) == {
        "since": "2026-01-01T00:00:00Z",
        "until": "2026-01-02T12:00:00Z",
        "limit": "100",
        "type": "deposit.created,kyc.updated",
    }
