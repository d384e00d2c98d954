"""Poll adapters: how a source's poll API is asked for a window and how its answer becomes
canonical envelopes (WEBHOOKS.md §2, §5).

An adapter builds the query parameters of one page request and turns the page's bytes into
`PolledPage(events, skipped, next_cursor)`. Every event is an envelope `{"id", "type",
"timestamp", "data"}` whose `id` is the source's stable event id: the same id the source would
put in `webhook-id`, which is what makes polling and webhooks meet in one idempotent store.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

import orjson

from apps.core.bounded import json_violations
from apps.integrations.inbound import public as inbound
from apps.integrations.polling.pages import polled_event_id


class PageFormatError(ValueError):
    """The source answered something that is not a page of its format (the run fails)."""


@dataclass(frozen=True)
class PolledPage:
    events: Sequence[Any]
    skipped: int
    next_cursor: str | None
    # Each event's id (pages.polled_event_id) when the adapter read them without parsing the
    # events (NDJSON pages: `events` then parses an item only when it is read).
    ids: list[str] | None = None


@dataclass(frozen=True)
class WindowRequest:
    since: dt.datetime
    until: dt.datetime
    event_types: tuple[str, ...]
    page_size: int
    cursor: str | None


class PollAdapter(Protocol):
    accept: str  # the request's Accept header

    def params(self, request: WindowRequest) -> dict[str, str]: ...

    def parse(self, body: bytes) -> PolledPage: ...


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _cursor(value) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise PageFormatError("next_cursor must be a string or null.")
    if isinstance(value, str) and "\x00" in value:
        raise PageFormatError("next_cursor contains a NUL character.")
    return str(value)


class GenericAdapter:
    """`GET {url}?since=&until=&type=&cursor=&limit=` -> `{"events": [...], "next_cursor": ...}`.

    `type` is a comma-separated list (absent: every type). Events are passed on as sent; the
    store validates them (an invalid one is kept as `invalid`, visible and replayable).
    """

    accept = "application/json"

    def params(self, request: WindowRequest) -> dict[str, str]:
        params = {
            "since": _iso(request.since),
            "until": _iso(request.until),
            "limit": str(request.page_size),
        }
        if request.event_types:
            params["type"] = ",".join(request.event_types)
        if request.cursor:
            params["cursor"] = request.cursor
        return params

    def parse(self, body: bytes) -> PolledPage:
        try:
            page = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise PageFormatError(f"The page is not JSON: {exc}") from exc
        if not isinstance(page, dict) or not isinstance(page.get("events"), list):
            raise PageFormatError('Expected {"events": [...], "next_cursor": ...}.')
        return PolledPage(
            events=page["events"], skipped=0, next_cursor=_cursor(page.get("next_cursor"))
        )


NDJSON_MEDIA_TYPE = "application/x-ndjson"

# An event line that starts with its id: `{"id":"<id>"` then `,` or `}`, no space, the id
# without escapes or control characters (so its text is the id itself) and as long as a stored
# id may be (usable_event_id). Searched as "\n" + line so the search runs at C speed over the
# whole page (the literal prefix is looked for, not tried at every position).
_LEADING_ID = re.compile(
    r'\n\{"id":"([^"\\\x00-\x1f]{1,%d})"[,}]' % inbound.MAX_ID_LENGTH  # noqa: UP031
)


class NdjsonEvents(Sequence):
    """A page's event lines, each parsed only when it is read (and then once).

    Reconciliation reads only the items not stored yet (about 1% of a window), so the lines of
    events already received are never parsed. A line that is not JSON raises PageFormatError
    when it is read, as a page that is not JSON fails its run."""

    def __init__(self, lines: list[str], ids: list[str], parsed: dict[int, Any]):
        self._lines = lines
        self._ids = ids
        self._parsed = parsed

    def __len__(self) -> int:
        return len(self._lines)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if index in self._parsed:
            return self._parsed[index]
        item = _line_item(self._lines[index], index)
        if polled_event_id(item) != self._ids[index]:
            # e.g. {"id":"a",...,"id":"b"}: which id is meant is not clear; refuse the page
            raise PageFormatError(f"Line {index + 1}: its id is not the one it starts with.")
        self._parsed[index] = item
        return item


def _line_item(line: str, index: int):
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise PageFormatError(f"Line {index + 1} is not JSON: {exc}") from exc


class GenericNdjsonAdapter(GenericAdapter):
    """The generic contract as NDJSON (`Accept: application/x-ndjson`): one envelope per line,
    and last the page's cursor line `{"next_cursor": ...}` (a page without it was cut short and
    is refused).

    Each event line's id is read from the line's start when the line starts with it
    (`{"id":"..."`, as orjson, JSON.stringify and most encoders write an object whose first key
    is id): one regular-expression search over the page, no parsing. Any other line is parsed
    whole to find its id (the same `polled_event_id` as the JSON pages), so correctness never
    depends on the fast path. The events are parsed when the store reads them: only the ones not
    stored yet. A line that is not JSON fails the page when it is read: always when it does not
    start with its id, otherwise when its id is not stored yet (a stored event is counted by its
    id, as on JSON pages, and its line is not read further).
    """

    accept = NDJSON_MEDIA_TYPE

    def parse(self, body: bytes) -> PolledPage:
        try:
            text = body.decode()
        except UnicodeDecodeError as exc:
            raise PageFormatError(f"The page is not UTF-8: {exc}") from exc
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()  # the last line's newline
        if not lines:
            raise PageFormatError('Expected event lines, then {"next_cursor": ...}.')
        *lines, cursor_line = lines
        cursor = _line_item(cursor_line, len(lines))
        if not isinstance(cursor, dict) or set(cursor) != {"next_cursor"}:
            raise PageFormatError(
                'The page must end with its cursor line {"next_cursor": ...} (cut short, or '
                "not NDJSON?)."
            )
        # The cursor line never matches (its only key is next_cursor): the search runs over
        # the body as received, without joining the event lines again.
        ids = _LEADING_ID.findall("\n" + text)
        parsed: dict[int, Any] = {}
        if len(ids) != len(lines):  # some lines do not start with their id: look at each
            ids = []
            for index, line in enumerate(lines):
                found = _LEADING_ID.match("\n" + line)
                if found:
                    ids.append(found.group(1))
                else:
                    parsed[index] = _line_item(line, index)
                    ids.append(polled_event_id(parsed[index]))
        return PolledPage(
            events=NdjsonEvents(lines, ids, parsed),
            skipped=0,
            next_cursor=_cursor(cursor["next_cursor"]),
            ids=ids,
        )


# --------------------------------------------------------------------------------------------
# MetaTrader 5 manager-style deals

MT5_VOLUME_UNITS = Decimal(10_000)  # Volume: 1/10,000 lot
MT5_VOLUME_EXT_UNITS = Decimal(100_000_000)  # VolumeExt: 1/100,000,000 lot
MT5_ENTRIES = {0: "in", 1: "out", 2: "inout", 3: "out_by"}
MT5_TRADE_ACTIONS = {
    0: "buy",
    1: "sell",
}  # 2 balance, 3 credit, 4 charge, 5 correction, 6 bonus, ...


def _decimal(value, name: str) -> Decimal:
    if isinstance(value, bool):
        raise PageFormatError(f"{name} is not a number.")
    try:
        number = Decimal(str(value)) if not isinstance(value, Decimal) else value
    except (InvalidOperation, ValueError) as exc:
        raise PageFormatError(f"{name} is not a number: {value!r}") from exc
    if not number.is_finite():
        raise PageFormatError(f"{name} is not a finite number.")
    return number


def _plain(value: Decimal) -> str:
    """A decimal string without exponent or trailing zeros ("1.5", "-2", "0.01")."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "+0") else text


def mt5_time(deal: dict) -> dt.datetime:
    """Deal time as an aware UTC datetime: TimeMsc (milliseconds) when given, else Time
    (seconds)."""
    if deal.get("TimeMsc") not in (None, 0):
        millis = int(_decimal(deal["TimeMsc"], "TimeMsc"))
        return dt.datetime.fromtimestamp(millis // 1000, tz=dt.UTC) + dt.timedelta(
            milliseconds=millis % 1000
        )
    if deal.get("Time") is None:
        raise PageFormatError(f"Deal {deal.get('Deal')!r} has neither Time nor TimeMsc.")
    return dt.datetime.fromtimestamp(int(_decimal(deal["Time"], "Time")), tz=dt.UTC)


def mt5_volume_lots(deal: dict) -> Decimal:
    """Lots from VolumeExt (1/10^8 lot) when given, else Volume (1/10,000 lot)."""
    if deal.get("VolumeExt") not in (None, 0):
        return _decimal(deal["VolumeExt"], "VolumeExt") / MT5_VOLUME_EXT_UNITS
    return _decimal(deal.get("Volume", 0), "Volume") / MT5_VOLUME_UNITS


def mt5_deal_envelope(deal: dict, *, server: str, currency: str) -> dict | None:
    """The canonical trade.closed envelope of one deal, or None for a non-trading deal."""
    if not isinstance(deal, dict):
        raise PageFormatError("Each deal must be an object.")
    try:
        action = int(deal["Action"])
        entry = int(deal["Entry"])
        deal_id = int(deal["Deal"])
    except (KeyError, TypeError, ValueError) as exc:
        raise PageFormatError(f"Deal without a numeric Deal/Action/Entry: {exc}") from exc
    if action not in MT5_TRADE_ACTIONS:
        return None  # balance, credit, charge, correction, bonus...: money movements, not trades
    if entry not in MT5_ENTRIES:
        raise PageFormatError(f"Deal {deal_id} has unknown Entry {entry}.")
    closed_at = mt5_time(deal)
    data = {
        "platform": "mt5",
        "server": server,
        "login": str(deal.get("Login", "")),
        "deal_id": str(deal_id),
        "position_id": str(deal.get("PositionID", "")),
        "symbol": str(deal.get("Symbol", "")),
        "volume_lots": _plain(mt5_volume_lots(deal)),
        "entry": MT5_ENTRIES[entry],
        "profit": _plain(_decimal(deal.get("Profit", 0), "Profit")),
        "currency": str(deal.get("Currency") or currency),
        "closed_at": _iso(closed_at),
    }
    for source, target in (("Storage", "swap"), ("Commission", "commission"), ("Price", "price")):
        if deal.get(source) is not None:
            data[target] = _plain(_decimal(deal[source], source))
    return {
        "id": f"mt5:{server}:{deal_id}",
        "type": "trade.closed",
        "timestamp": data["closed_at"],
        "data": data,
    }


class Mt5DealsAdapter:
    """A MetaTrader 5 manager-style deals feed.

    `GET {url}?from=<unix s>&to=<unix s>&limit=&cursor=` -> `{"server": "...", "currency": "USD",
    "deals": [{"Deal", "Login", "Action", "Entry", "Symbol", "Volume" | "VolumeExt", "Price",
    "Profit", "Storage", "Commission", "Time" | "TimeMsc", "PositionID", "Currency"?}], "next":
    ...}`.
    Numbers are read as exact decimals. Only buy/sell deals become events; the others are counted
    as skipped. `to` is exclusive.
    """

    accept = "application/json"

    def __init__(self, *, server: str = "", default_server: str = "", currency: str = ""):
        self.server = server
        self.default_server = default_server
        self.currency = currency

    def params(self, request: WindowRequest) -> dict[str, str]:
        params = {
            "from": str(int(request.since.timestamp())),
            "to": str(int(request.until.timestamp())),
            "limit": str(request.page_size),
        }
        if request.cursor:
            params["cursor"] = request.cursor
        return params

    def parse(self, body: bytes) -> PolledPage:
        try:
            page = json.loads(body, parse_float=Decimal)
        except (ValueError, UnicodeDecodeError) as exc:
            raise PageFormatError(f"The page is not JSON: {exc}") from exc
        except RecursionError as exc:  # Python's parser recurses: a deeply nested page
            raise PageFormatError("The page nests too deeply to be read.") from exc
        violations = json_violations(page)
        if violations:  # deals are read field by field below: refuse the page, naming the place
            raise PageFormatError(
                "The page is out of bounds: "
                + "; ".join(f"{k}: {' '.join(v)}" for k, v in list(violations.items())[:3])
            )
        if not isinstance(page, dict) or not isinstance(page.get("deals"), list):
            raise PageFormatError('Expected {"deals": [...], "next": ...}.')
        server = self.server or str(page.get("server") or "") or self.default_server
        currency = str(page.get("currency") or self.currency or "")
        if not server:
            raise PageFormatError("No server name: configure one or send it in the page.")
        events, skipped = [], 0
        for deal in page["deals"]:
            envelope = mt5_deal_envelope(deal, server=server, currency=currency)
            if envelope is None:
                skipped += 1
            else:
                events.append(envelope)
        return PolledPage(events=events, skipped=skipped, next_cursor=_cursor(page.get("next")))


def adapter_for(config) -> PollAdapter:
    if config.adapter == "mt5_deals":
        return Mt5DealsAdapter(server=config.server, default_server=config.integration.slug)
    if config.adapter == "generic_ndjson":  # PollConfig.Adapter.GENERIC_NDJSON
        return GenericNdjsonAdapter()
    return GenericAdapter()
