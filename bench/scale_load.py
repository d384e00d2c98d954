"""The scale benchmark's COPY load: inbound events and the facts their processing recorded.

Events come in blocks of ten per player, in receipt order over the last SPAN (so the monthly
partitions take them), the mix the events carry being one registration, three deposits, four
daily revenue reports (CRM integration) and two closed deals (trading integration) per player:

    j = n % 10:  0 player.registered | 1-3 deposit.created | 4-7 revenue.reported |
                 8-9 trade.closed                               (player k = n // 10)

Every table is filled by one small function that yields its rows for the block range, so a
table added later (a key table for a fact's natural key, a partitioned fact table: COPY into
the parent's name routes rows to its partitions) is one more function in `TABLES`. Ids are
reserved from each table's sequence first, so the rows are written with their final ids and
facts point at their events (`source_event_id`) and players without a lookup. One event in a
thousand (a revenue report's) is dead and recorded nothing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import orjson
import psycopg

SPAN = dt.timedelta(days=90)
BLOCK = 10
CRM_SYSTEM = "crm"
TRADING_SYSTEM = "mt5-live"
BRAND = "bench"
COUNTRIES = ("GB", "DE", "SE", "CA", "NZ", "IE", "FI", "NO")
KINDS = ("registered",) + ("deposit",) * 3 + ("revenue",) * 4 + ("trade",) * 2
EVENT_TYPES = {
    "registered": "player.registered",
    "deposit": "deposit.created",
    "revenue": "revenue.reported",
    "trade": "trade.closed",
}


@dataclass(frozen=True)
class Plan:
    """Which blocks to write and the ids reserved for them."""

    first_block: int
    blocks: int
    total_events: int  # of the whole load: spaces receipt times evenly over SPAN
    now: dt.datetime
    crm_integration_id: int
    trading_integration_id: int
    event_base: int = 0
    player_base: int = 0
    fact_bases: dict | None = None

    @property
    def first_n(self) -> int:
        return self.first_block * BLOCK

    @property
    def end_n(self) -> int:
        return (self.first_block + self.blocks) * BLOCK

    def received(self, n: int) -> dt.datetime:
        return self.now - SPAN + SPAN * ((n + 1) / self.total_events)

    def event_id(self, n: int) -> int:
        return self.event_base + n - self.first_n + 1

    def player_id(self, k: int) -> int:
        return self.player_base + k - self.first_block + 1

    def fact_id(self, table: str, index: int) -> int:
        return self.fact_bases[table] + index + 1

    def dead(self, n: int) -> bool:
        return n % 1000 == 5


def brand_licence() -> None:
    """License the players' brand in their countries (Django set up), so registrations are
    attributed as the loaded players are (organic), not geo-blocked."""
    from apps.compliance.models import Jurisdiction
    from apps.compliance.services import brand_licence_set
    from apps.core.audit import audited_save

    for code in COUNTRIES:
        if not Jurisdiction.objects.filter(code=code).exists():
            audited_save(Jurisdiction(code=code, name=code), actor_label="bench scale")
        brand_licence_set(brand=BRAND, country=code, is_active=True, note="bench scale")


def crm_id(k: int) -> str:
    return f"P-{k}"


def trading_login(k: int) -> str:
    return f"L-{k}"


def event_data(plan: Plan, n: int) -> tuple[str, dict]:
    """(kind, data) of event n, as the sending systems shape them (WEBHOOKS.md)."""
    k, j = divmod(n, BLOCK)
    received = plan.received(n)
    kind = KINDS[j]
    at = received.isoformat()
    if kind == "registered":
        data = {"player_id": crm_id(k), "registered_at": at, "country": COUNTRIES[k % 8]}
        data.update(brand=BRAND, identifiers={TRADING_SYSTEM: trading_login(k)})
    elif kind == "deposit":
        data = {"deposit_id": f"D-{n}", "player_id": crm_id(k), "amount": _deposit_amount(n)}
        data["currency"] = "EUR"
    elif kind == "revenue":
        stakes = 100 + n % 900
        data = {
            "report_id": f"R-{n}",
            "player_id": crm_id(k),
            "date": _report_date(plan, n).isoformat(),
            "currency": "EUR",
            "stakes": f"{stakes}.00",
            "winnings": f"{stakes * 95 // 100}.00",
        }
    else:
        data = {
            "deal_id": f"T-{n}",
            "login": trading_login(k),
            "platform": "mt5",
            "server": "bench-live",
            "position_id": f"POS-{k}",
            "symbol": "EURUSD",
            "volume_lots": "1.00",
            "entry": "in" if j == 8 else "out",
            "profit": "0.00" if j == 8 else f"{n % 200 - 100}.00",
            "currency": "USD",
            "closed_at": at,
        }
    return kind, data


def _deposit_amount(n: int) -> str:
    return f"{10 + n % 490}.00"


def _report_date(plan: Plan, n: int) -> dt.date:
    # Four reports per player, for the four days before the player registered.
    return plan.received(n - n % BLOCK).date() - dt.timedelta(days=n % BLOCK - 3)


def _ts(value: dt.datetime) -> str:
    return value.isoformat()


# --------------------------------------------------------------------------------------------
# One function per table: yields its rows, tab-separated, for the plan's blocks.


def events(plan: Plan) -> Iterator[str]:
    for n in range(plan.first_n, plan.end_n):
        received = plan.received(n)
        kind, data = event_data(plan, n)
        event_type = EVENT_TYPES[kind]
        integration = plan.trading_integration_id if kind == "trade" else plan.crm_integration_id
        body = orjson.dumps({"type": event_type, "timestamp": _ts(received), "data": data})
        at = _ts(received)
        status, processed = ("dead", "\\N") if plan.dead(n) else ("processed", at)
        yield (
            f"{plan.event_id(n)}\t{integration}\tscale-{n}\t{event_type}\t{at}\t{body.decode()}\t"
            f"\t{hashlib.sha256(body).hexdigest()}\t{at}\twebhook\t{status}\t1\t\t[]\t{{}}\t\t\t"
            f"{processed}"
        )


EVENT_COLUMNS = (
    "id, integration_id, webhook_id, event_type, occurred_at, payload, raw_body, body_hash, "
    "received_at, source, status, attempts, last_error, warnings, errors, parked_system, "
    "parked_external_id, processed_at"
)


def players(plan: Plan) -> Iterator[str]:
    for k in range(plan.first_block, plan.first_block + plan.blocks):
        at = _ts(plan.received(k * BLOCK))
        yield (
            f"{plan.player_id(k)}\t{at}\t{at}\t{BRAND}\t{COUNTRIES[k % 8]}\t{at}\t\t\t\t\t\t\t"
            "organic\tno tracking token"
        )


PLAYER_COLUMNS = (
    "id, created_at, updated_at, brand, country, registered_at, tracking_token, sub1, sub2, "
    "sub3, sub4, sub5, attribution_status, attribution_note"
)


def mappings(plan: Plan) -> Iterator[str]:
    for k in range(plan.first_block, plan.first_block + plan.blocks):
        at = _ts(plan.received(k * BLOCK))
        player = plan.player_id(k)
        yield f"{CRM_SYSTEM}\t{crm_id(k)}\tbench-scale\t{at}\t\t{player}"
        yield f"{TRADING_SYSTEM}\t{trading_login(k)}\tbench-scale\t{at}\t\t{player}"


MAPPING_COLUMNS = "system, external_id, source, created_at, retired_reason, player_id"


def _facts_of(plan: Plan, kind: str) -> Iterator[tuple[int, int, int, dt.datetime]]:
    """(index within the table's rows, n, k, received) of the plan's live events of a kind."""
    index = 0
    for n in range(plan.first_n, plan.end_n):
        if KINDS[n % BLOCK] != kind:
            continue
        if not plan.dead(n):
            yield index, n, n // BLOCK, plan.received(n)
        index += 1


def deposits(plan: Plan) -> Iterator[str]:
    for index, n, k, received in _facts_of(plan, "deposit"):
        at = _ts(received)
        first = "t" if n % BLOCK == 1 else "f"
        yield (
            f"{plan.fact_id('deposit', index)}\t{CRM_SYSTEM}\t{plan.event_id(n)}\t{at}\tD-{n}\t"
            f"{_deposit_amount(n)}\tEUR\t{at}\t{first}\t{plan.player_id(k)}"
        )


DEPOSIT_COLUMNS = (
    "id, system, source_event_id, recorded_at, deposit_id, amount, currency, occurred_at, "
    "is_first, player_id"
)


def revenue_reports(plan: Plan) -> Iterator[str]:
    for index, n, k, received in _facts_of(plan, "revenue"):
        at = _ts(received)
        stakes = 100 + n % 900
        yield (
            f"{plan.fact_id('revenue', index)}\t{CRM_SYSTEM}\t{plan.event_id(n)}\t{at}\tR-{n}\t"
            f"{_report_date(plan, n).isoformat()}\tEUR\t{stakes}\t{stakes * 95 // 100}\t"
            f"0\t0\t0\t0\t0\t{at}\tt\t{plan.player_id(k)}"
        )


REVENUE_COLUMNS = (
    "id, system, source_event_id, recorded_at, report_id, date, currency, stakes, winnings, "
    "bonuses, jackpot_contributions, taxes, payment_fees, adjustments, occurred_at, "
    "is_current, player_id"
)


def trades(plan: Plan) -> Iterator[str]:
    for index, n, k, received in _facts_of(plan, "trade"):
        at = _ts(received)
        entry, profit = ("in", 0) if n % BLOCK == 8 else ("out", n % 200 - 100)
        yield (
            f"{plan.fact_id('trade', index)}\t{TRADING_SYSTEM}\t{plan.event_id(n)}\t{at}\tmt5\t"
            f"bench-live\tT-{n}\t{trading_login(k)}\tPOS-{k}\tEURUSD\t1.00\t{entry}\t{profit}\t"
            f"0\t0\t1.08\tUSD\t{at}\t{plan.player_id(k)}"
        )


TRADE_COLUMNS = (
    "id, system, source_event_id, recorded_at, platform, server, deal_id, login, position_id, "
    "symbol, volume_lots, entry, profit, swap, commission, price, currency, closed_at, player_id"
)

# (table, its columns, the function yielding its rows, the fact's name in Plan.fact_bases)
TABLES: list[tuple[str, str, Callable[[Plan], Iterator[str]], str | None]] = [
    ("integrations_inboundevent", EVENT_COLUMNS, events, None),
    ("players_player", PLAYER_COLUMNS, players, None),
    ("mappings_identifiermapping", MAPPING_COLUMNS, mappings, None),
    ("players_deposit", DEPOSIT_COLUMNS, deposits, "deposit"),
    ("players_revenuereport", REVENUE_COLUMNS, revenue_reports, "revenue"),
    ("players_trade", TRADE_COLUMNS, trades, "trade"),
]


# The natural-key tables that keep idempotency across partitions, filled from the rows just
# copied (INSERT ... SELECT): (key table, its columns as selected from the table, the table, the
# fact's name in Plan.fact_bases, or None for the events).
KEY_TABLES: list[tuple[str, str, str, str | None]] = [
    (
        "integrations_inboundeventkey",
        "(integration_id, webhook_id, event_id, received_at, body_hash) "
        "SELECT integration_id, webhook_id, id, received_at, body_hash",
        "integrations_inboundevent",
        None,
    ),
    (
        "players_revenuereportkey",
        "(system, report_id, fact_id, date) SELECT system, report_id, id, date",
        "players_revenuereport",
        "revenue",
    ),
    (
        "players_tradekey",
        "(platform, server, deal_id, fact_id, closed_at) "
        "SELECT platform, server, deal_id, id, closed_at",
        "players_trade",
        "trade",
    ),
]


def _key_fills(plan: Plan, per_kind: dict[str, int]):
    """(key table, its SELECT, (source table, id before the first, rows)) per key table."""
    for key_table, select, table, fact in KEY_TABLES:
        if fact is None:
            base, count = plan.event_base, plan.blocks * BLOCK
        else:
            base, count = plan.fact_bases[fact], per_kind[fact]
        yield key_table, select, (table, base, count)


def _reserve(cursor: psycopg.Cursor, table: str, count: int) -> int:
    """Move the table's id sequence past `count` ids; returns the id before the first."""
    sequence = f"pg_get_serial_sequence('{table}', 'id')"
    after = cursor.execute(
        f"SELECT setval({sequence}, nextval({sequence}) + %s)", [count]
    ).fetchone()[0]
    return after - count - 1


def _copy(cursor: psycopg.Cursor, table: str, columns: str, rows: Iterator[str]) -> int:
    written = 0
    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        batch = []
        for row in rows:
            batch.append(row)
            if len(batch) >= 20_000:
                copy.write("\n".join(batch) + "\n")
                written += len(batch)
                batch.clear()
        if batch:
            copy.write("\n".join(batch) + "\n")
            written += len(batch)
    return written


def load(
    url: str,
    *,
    first_block: int,
    blocks: int,
    total_events: int,
    now: dt.datetime,
    integrations: tuple[int, int],
) -> dict:
    """COPY the events of `blocks` players and every fact their processing recorded, the
    events' idempotency keys (INSERT ... SELECT), then ANALYZE. One transaction."""
    per_kind = {kind: KINDS.count(kind) * blocks for kind in ("deposit", "revenue", "trade")}
    seconds: dict[str, float] = {}
    rows: dict[str, int] = {}
    with psycopg.connect(url) as conn, conn.cursor() as cursor:
        plan = Plan(
            first_block,
            blocks,
            total_events,
            now,
            *integrations,
            event_base=_reserve(cursor, "integrations_inboundevent", blocks * BLOCK),
            player_base=_reserve(cursor, "players_player", blocks),
            fact_bases={
                "deposit": _reserve(cursor, "players_deposit", per_kind["deposit"]),
                "revenue": _reserve(cursor, "players_revenuereport", per_kind["revenue"]),
                "trade": _reserve(cursor, "players_trade", per_kind["trade"]),
            },
        )
        for table, columns, function, _ in TABLES:
            started = time.perf_counter()
            rows[table] = _copy(cursor, table, columns, function(plan))
            seconds[table] = round(time.perf_counter() - started, 1)
        for key_table, select, (table, base_of, count) in _key_fills(plan, per_kind):
            started = time.perf_counter()
            cursor.execute(
                f"INSERT INTO {key_table} {select} FROM {table} WHERE id BETWEEN %s AND %s",
                [base_of + 1, base_of + count],
            )
            seconds[key_table] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        conn.commit()  # checks the deferred foreign keys of every row: minutes at millions
        seconds["commit"] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        for table, *_ in TABLES:
            cursor.execute(f"ANALYZE {table}")
        for key_table, *_ in KEY_TABLES:
            cursor.execute(f"ANALYZE {key_table}")
        conn.commit()
        seconds["analyze"] = round(time.perf_counter() - started, 1)
        # Write the load's dirty pages out now: a server that grew to this size over months
        # would not be flushing gigabytes of them while it is measured (a 10 s ingest that met
        # the checkpoint the load triggered ran at 0.36 of the floor instead of 0.51).
        started = time.perf_counter()
        conn.autocommit = True
        # Not a superuser (nor pg_checkpoint): the server checkpoints when it will.
        with contextlib.suppress(psycopg.errors.InsufficientPrivilege):
            cursor.execute("CHECKPOINT")
        seconds["checkpoint"] = round(time.perf_counter() - started, 1)
    return {
        "first_event_id": plan.event_id(plan.first_n),
        "events": blocks * BLOCK,
        "rows": rows,
        "seconds": seconds,
        "load_s": round(sum(seconds.values()), 1),
    }
