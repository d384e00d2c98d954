"""The simulated source systems' poll APIs, over what they "sent" (SandboxSentEvent).

`GET /sandbox/poll/<slug>/`: the CRM (and every non-trading system) answers the generic contract
of WEBHOOKS.md §5 (`?since=&until=&type=&limit=&cursor=` -> `{"events", "next_cursor"}`); the
trading platform answers like an MT5 manager's deals request (`?from=&to=` in Unix seconds ->
`{"server", "currency", "deals": [...], "next"}`, volumes in 1/10,000 lot, entry and action
codes). Both list every event the system produced, including the ones whose webhook was
deliberately dropped, which is what the hub's reconciliation recovers.

Access: `Authorization: Bearer <token>` where the token derives from the system's signing secret
(`sandbox_poll_token`), as a real source would issue an API key.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from decimal import Decimal

import orjson
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from apps.integrations.models import Integration
from apps.sandbox.models import SandboxEndpoint, SandboxSentEvent
from apps.sandbox.world import MT5_SERVER

MAX_LIMIT = 5000
MT5_ENTRY_CODES = {"in": 0, "out": 1, "inout": 2, "out_by": 3}


def sandbox_poll_token(secret: str) -> str:
    return hmac.new(secret.encode(), b"sandbox-poll", hashlib.sha256).hexdigest()[:40]


def _json(status: int, body: dict) -> HttpResponse:
    return HttpResponse(orjson.dumps(body), status=status, content_type="application/json")


def _time(value: str, *, unix: bool) -> dt.datetime:
    if unix:
        return dt.datetime.fromtimestamp(int(value), tz=dt.UTC)
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("naive time")
    return parsed


def _encode_cursor(row: SandboxSentEvent) -> str:
    return base64.urlsafe_b64encode(f"{row.occurred_at.isoformat()}|{row.pk}".encode()).decode()


def _decode_cursor(value: str) -> tuple[dt.datetime, int]:
    at, _, pk = base64.urlsafe_b64decode(value.encode()).decode().partition("|")
    return dt.datetime.fromisoformat(at), int(pk)


def _number(value) -> float | int:
    """Like a real MT5 bridge: numbers as JSON numbers (the hub reads them as exact decimals)."""
    number = Decimal(str(value))
    return int(number) if number == number.to_integral_value() else float(number)


def mt5_deal(payload: dict) -> dict:
    data = payload["data"]
    closed = dt.datetime.fromisoformat(data["closed_at"].replace("Z", "+00:00"))
    entry = MT5_ENTRY_CODES[data["entry"]]
    deal = {
        "Deal": int(data["deal_id"]),
        "Login": int(data["login"]) if str(data["login"]).isdigit() else data["login"],
        "Action": 0 if entry == 0 else 1,
        "Entry": entry,
        "Symbol": data["symbol"],
        "Volume": int(Decimal(data["volume_lots"]) * 10_000),
        "Price": _number(data.get("price", 0)),
        "Profit": _number(data["profit"]),
        "Time": int(closed.timestamp()),
        "TimeMsc": int(closed.timestamp() * 1000),
        "PositionID": int(data["position_id"])
        if str(data["position_id"]).isdigit()
        else data["position_id"],
        "Currency": data["currency"],
    }
    if "swap" in data:
        deal["Storage"] = _number(data["swap"])
    if "commission" in data:
        deal["Commission"] = _number(data["commission"])
    return deal


@require_GET
def sandbox_poll(request: HttpRequest, slug: str) -> HttpResponse:
    endpoint = SandboxEndpoint.objects.filter(slug=slug).first()
    if endpoint is None:
        return _json(404, {"error": f"no sandbox system {slug!r}"})
    supplied = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(supplied, sandbox_poll_token(endpoint.secret)):
        return _json(401, {"error": "unauthorized"})
    trading = endpoint.kind == Integration.Kind.TRADING
    query = request.GET
    try:
        since = _time(query["from" if trading else "since"], unix=trading)
        until = _time(query["to" if trading else "until"], unix=trading)
        limit = min(MAX_LIMIT, max(1, int(query.get("limit", "500"))))
        after = _decode_cursor(query["cursor"]) if query.get("cursor") else None
    except (KeyError, ValueError, UnicodeDecodeError) as exc:
        return _json(400, {"error": f"bad query: {exc}"})

    rows = SandboxSentEvent.objects.filter(
        integration_slug=slug, occurred_at__gte=since, occurred_at__lt=until
    )
    types = [t for t in query.get("type", "").split(",") if t]
    if types and not trading:
        rows = rows.filter(event_type__in=types)
    if trading:
        rows = rows.filter(event_type="trade.closed")
    if after is not None:
        rows = rows.filter(occurred_at__gte=after[0]).exclude(
            occurred_at=after[0], pk__lte=after[1]
        )
    page = list(rows.order_by("occurred_at", "pk")[: limit + 1])
    following = _encode_cursor(page[limit - 1]) if len(page) > limit else None
    page = page[:limit]
    if trading:
        return _json(
            200,
            {
                "server": MT5_SERVER,
                "currency": "USD",
                "deals": [mt5_deal(r.payload) for r in page],
                "next": following,
            },
        )
    events = [{"id": r.webhook_id, **r.payload} for r in page]
    return _json(200, {"events": events, "next_cursor": following})
