"""Simulated source systems: what a CRM, a trading platform, a payment gateway and a compliance
feed would send the hub, with the faults real senders have.

`Simulator.step()` plays one business happening (a registration, a deposit, a day's revenue, a
partial close...) and returns the envelopes it produces, each with its fate: sent once, sent
twice (a duplicate delivery of the same webhook id), or dropped (never delivered; kept for
polling to recover). Out-of-order delivery is played by sending a new player's first deposit
before its registration, so the deposit parks and is unparked when the registration lands.
A small share of events is malformed on purpose (a JSON float amount) and lands as `invalid`.

Generation is pure: a seeded `random.Random`, a clock and a `click` callable (which turns a
tracking-link code into the token a landing page would receive) are injected, so tests drive
it without HTTP or a database. `apps/sandbox/traffic.py` sends what it produces.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_EVEN, Decimal

import orjson

from apps.sandbox.world import (
    ACTIONS,
    BRANDS,
    COMPLIANCE,
    COUNTRIES,
    CRM,
    DROP,
    DUPLICATE,
    MT5_SERVER,
    PAYMENTS,
    PRODUCTS,
    RING_DEPOSIT,
    RING_SIZE,
    SEND,
    SYMBOLS,
    TRADING,
)

# Players the simulator acts for: the newest this many (older ones are dropped, so a run of days
# holds its memory flat).
ACTIVE_PLAYERS = 400


@dataclass(frozen=True)
class Faults:
    """Shares of events that are duplicated, dropped, delivered out of order or malformed."""

    duplicate: float = 0.03
    drop: float = 0.02
    out_of_order: float = 0.15  # of new players whose first deposit comes before the registration
    invalid: float = 0.01

    @classmethod
    def none(cls) -> Faults:
        return cls(duplicate=0, drop=0, out_of_order=0, invalid=0)


@dataclass(frozen=True)
class Outgoing:
    """One envelope for one hub integration, its exact body and what the sandbox does with it."""

    slug: str
    webhook_id: str
    event_type: str
    occurred_at: dt.datetime
    envelope: dict
    fate: str = SEND

    @property
    def body(self) -> bytes:
        return orjson.dumps(self.envelope)


@dataclass
class Position:
    position_id: str
    symbol: str
    volume: Decimal  # lots still open
    opened_at: dt.datetime
    open_price: Decimal


@dataclass
class SimPlayer:
    """What the simulated systems know about one player."""

    crm_id: str
    brand: str
    country: str
    payments_id: str | None = None
    mt5_login: str | None = None
    deposits: list[tuple[str, Decimal]] = field(default_factory=list)
    revenue_days: list[dt.date] = field(default_factory=list)
    positions: list[Position] = field(default_factory=list)
    purchases: list[tuple[str, Decimal]] = field(default_factory=list)
    kyc: str | None = None
    excluded: bool = False
    device_hash: str = ""
    ring: bool = False  # a fraud-ring member: deposits the minimum once, nothing else

    @property
    def currency(self) -> str:
        return BRANDS.get(self.brand, "EUR")


def _money(value: float | Decimal, places: str = "0.01") -> Decimal:
    return Decimal(str(value)).quantize(Decimal(places), rounding=ROUND_HALF_EVEN)


def _iso(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


class Simulator:
    """Plays the simulated systems. Not thread-safe; one instance per sender loop."""

    def __init__(
        self,
        *,
        rng: random.Random,
        clock: Callable[[], dt.datetime],
        link_codes: Sequence[str] = (),
        click: Callable[[str], str | None] | None = None,
        players: Sequence[SimPlayer] = (),
        faults: Faults | None = None,
        run_tag: str | None = None,
    ):
        self.rng = rng
        self.clock = clock
        self.link_codes = list(link_codes)
        self.click = click
        self.players: list[SimPlayer] = list(players)
        self.faults = faults or Faults()
        # Keeps the external ids of this run apart from earlier runs' (restarts, several runs).
        self.run_tag = run_tag or f"{rng.getrandbits(24):06x}"
        # Deal numbers are unique across runs too (the feed's ids must never repeat).
        self._deal_base = (
            int(hashlib.sha256(self.run_tag.encode()).hexdigest()[:6], 16) + 1
        ) * 10_000_000
        self._seq = 0
        self._actions, self._weights = zip(*ACTIONS.items(), strict=True)
        self.ring_link: str | None = None
        self.ring_device = f"ring-{hashlib.sha256(self.run_tag.encode()).hexdigest()[:24]}"
        self.ring_members = 0

    # --- ids ------------------------------------------------------------------------------

    def _next(self) -> int:
        self._seq += 1
        return self._seq

    def _ext_id(self, prefix: str) -> str:
        return f"{prefix}-{self.run_tag}-{self._next()}"

    def _webhook_id(self) -> str:
        return f"msg_{self.run_tag}_{self.rng.getrandbits(96):024x}"

    def _event(self, slug: str, event_type: str, occurred_at: dt.datetime, data: dict) -> Outgoing:
        envelope = {"type": event_type, "timestamp": _iso(occurred_at), "data": data}
        # A trading platform's events are its deals: the deal is the stable id in its webhooks and
        # in its deals feed alike (`mt5:{server}:{deal}`), which is what lets polling reconcile
        # them.
        webhook_id = (
            f"mt5:{data['server']}:{data['deal_id']}"
            if event_type == "trade.closed"
            else self._webhook_id()
        )
        return Outgoing(
            slug=slug,
            webhook_id=webhook_id,
            event_type=event_type,
            occurred_at=occurred_at,
            envelope=envelope,
        )

    # --- the step -------------------------------------------------------------------------

    def step(self) -> list[Outgoing]:
        """Play one happening; the envelopes it produces, faults applied, in sending order."""
        action = self.rng.choices(self._actions, weights=self._weights)[0]
        if action != "register" and not self.players:
            action = "register"
        events = getattr(self, f"_{action}")()
        return [self._with_fault(event) for event in events]

    def _with_fault(self, event: Outgoing) -> Outgoing:
        roll = self.rng.random()
        if roll < self.faults.drop:
            return replace(event, fate=DROP)
        if roll < self.faults.drop + self.faults.duplicate:
            return replace(event, fate=DUPLICATE)
        if (
            roll < self.faults.drop + self.faults.duplicate + self.faults.invalid
            and "amount" in event.envelope["data"]
        ):
            # A sender bug: the amount as a JSON float. The hub stores it as `invalid` (422).
            data = {**event.envelope["data"], "amount": float(event.envelope["data"]["amount"])}
            return replace(event, envelope={**event.envelope, "data": data})
        return event

    def _pick(self, predicate: Callable[[SimPlayer], bool] = lambda p: True) -> SimPlayer | None:
        candidates = [p for p in self.players[-ACTIVE_PLAYERS:] if not p.ring and predicate(p)]
        return self.rng.choice(candidates) if candidates else None

    # --- happenings -----------------------------------------------------------------------

    def _register(self, *, ring: bool = False) -> list[Outgoing]:
        now = self.clock()
        token = None
        brand = self.rng.choice(list(BRANDS))
        if ring:
            token = self.click(self.ring_link)
        elif self.link_codes and self.click is not None and self.rng.random() < 0.7:
            token = self.click(self.rng.choice(self.link_codes))
        countries, weights = zip(*COUNTRIES.items(), strict=True)
        player = SimPlayer(
            crm_id=self._ext_id("C"),
            brand=brand,
            country=self.rng.choices(countries, weights)[0],
            # The CRM's keyed hashes (WEBHOOKS.md §2): one device per player, but the ring's.
            device_hash=self.ring_device if ring else f"dev-{self.rng.getrandbits(96):024x}",
            ring=ring,
        )
        if self.rng.random() < 0.7:
            player.payments_id = self._ext_id("P")
        if brand == "tradeking" or self.rng.random() < 0.15:
            player.mt5_login = str(7_000_000 + self._next())
        identifiers = {}
        if player.payments_id:
            identifiers["payments"] = player.payments_id
        if player.mt5_login:
            identifiers["mt5-live"] = player.mt5_login
        data = {
            "player_id": player.crm_id,
            "registered_at": _iso(now),
            "country": player.country,
            "brand": brand,
            "device_hash": player.device_hash,
            "ip_hash": f"ip-{self.rng.getrandbits(96):024x}",
        }
        if token:
            data["tracking_token"] = token
        if identifiers:
            data["identifiers"] = identifiers
        registration = self._event(CRM, "player.registered", now, data)
        self.players.append(player)
        if (
            len(self.players) > 2 * ACTIVE_PLAYERS
        ):  # only the newest are ever picked: keep memory flat
            del self.players[:-ACTIVE_PLAYERS]
        if ring:
            # The one minimum deposit, a minute later, from the same device.
            deposit_at = now + dt.timedelta(seconds=self.rng.randrange(30, 90))
            return [registration, self._deposit_for(player, deposit_at, minimum=True)]
        if self.rng.random() < self.faults.out_of_order:
            # The first deposit overtakes the registration: it parks, then is unparked.
            return [
                self._deposit_for(player, now + dt.timedelta(seconds=self.rng.randrange(5, 90))),
                registration,
            ]
        return [registration]

    def _deposit(self) -> list[Outgoing]:
        player = self._pick(lambda p: not p.excluded)
        if player is None:
            return self._register()
        return [self._deposit_for(player, self.clock())]

    def _ring(self) -> list[Outgoing]:
        """One more fraud-ring member (until the ring has RING_SIZE); an ordinary registration
        when the sandbox has no tracking link to abuse or the ring is complete."""
        if not self.link_codes or self.click is None or self.ring_members >= RING_SIZE:
            return self._register()
        if self.ring_link is None:
            self.ring_link = self.rng.choice(self.link_codes)
        self.ring_members += 1
        return self._register(ring=True)

    def _deposit_for(
        self, player: SimPlayer, at: dt.datetime, *, minimum: bool = False
    ) -> Outgoing:
        amount = (
            RING_DEPOSIT[player.currency]
            if minimum
            else _money(
                self.rng.choice([10, 20, 25, 50, 100, 150, 200, 250, 500, 1000])
                * self.rng.uniform(0.9, 1.1)
            )
        )
        deposit_id = self._ext_id("D")
        player.deposits.append((deposit_id, amount))
        data = {"deposit_id": deposit_id, "amount": str(amount), "currency": player.currency}
        if player.device_hash:
            data["device_hash"] = player.device_hash
        if player.payments_id and self.rng.random() < 0.8:
            return self._event(
                PAYMENTS, "deposit.created", at, {**data, "player_id": player.payments_id}
            )
        return self._event(CRM, "deposit.created", at, {**data, "player_id": player.crm_id})

    def _revenue(self) -> list[Outgoing]:
        player = self._pick(lambda p: bool(p.deposits))
        if player is None:
            return self._deposit()
        now = self.clock()
        restating = bool(player.revenue_days) and self.rng.random() < 0.15
        day = (
            self.rng.choice(player.revenue_days)
            if restating
            else (now - dt.timedelta(days=self.rng.choice([0, 1]))).date()
        )
        if day not in player.revenue_days:
            player.revenue_days.append(day)
        stakes = _money(self.rng.uniform(50, 5000))
        winnings = _money(stakes * Decimal(str(self.rng.uniform(0.82, 1.04))))
        data = {
            "report_id": self._ext_id("R"),
            "player_id": player.crm_id,
            "date": day.isoformat(),
            "currency": player.currency,
            "stakes": str(stakes),
            "winnings": str(winnings),
            "bonuses": str(_money(stakes * Decimal("0.02"))),
            "jackpot_contributions": str(_money(stakes * Decimal("0.005"))),
            "taxes": str(_money(max(Decimal(0), stakes - winnings) * Decimal("0.05"))),
            "payment_fees": str(_money(self.rng.uniform(0, 5))),
        }
        return [self._event(CRM, "revenue.reported", now, data)]

    def _trade(self) -> list[Outgoing]:
        player = self._pick(lambda p: p.mt5_login is not None)
        if player is None:
            return self._register()
        now = self.clock()
        open_positions = [p for p in player.positions if p.volume > 0]
        if open_positions and self.rng.random() < 0.65:
            return [self._close_part(player, self.rng.choice(open_positions), now)]
        symbol = self.rng.choice(list(SYMBOLS))
        volume = _money(self.rng.choice([0.1, 0.5, 1, 2, 3.5, 5]), "0.01")
        price = SYMBOLS[symbol]
        position = Position(self._ext_id("POS"), symbol, volume, now, price)
        player.positions.append(position)
        data = self._trade_data(
            player, position, entry="in", volume=volume, profit=Decimal(0), price=price, at=now
        )
        return [self._event(TRADING, "trade.closed", now, data)]

    def _close_part(self, player: SimPlayer, position: Position, now: dt.datetime) -> Outgoing:
        # Partial closes: a part of what is open, or all of it; never more than the position.
        part = (
            position.volume
            if position.volume <= Decimal("0.1") or self.rng.random() < 0.4
            else _money(position.volume * Decimal(str(self.rng.choice([0.25, 0.4, 0.5]))), "0.01")
        )
        part = max(Decimal("0.01"), min(part, position.volume))
        position.volume -= part
        move = Decimal(str(self.rng.uniform(-0.004, 0.004)))
        price = _money(position.open_price * (1 + move), "0.00001")
        profit = _money(
            (price - position.open_price) * part * 100_000 / max(position.open_price, Decimal(1))
        )
        data = self._trade_data(
            player, position, entry="out", volume=part, profit=profit, price=price, at=now
        )
        data["opened_at"] = _iso(position.opened_at)
        data["swap"] = str(_money(-self.rng.uniform(0, 2)))
        data["commission"] = str(_money(-float(part) * 3.5))
        return self._event(TRADING, "trade.closed", now, data)

    def _trade_data(
        self,
        player: SimPlayer,
        position: Position,
        *,
        entry: str,
        volume: Decimal,
        profit: Decimal,
        price: Decimal,
        at: dt.datetime,
    ) -> dict:
        return {
            "platform": "mt5",
            "server": MT5_SERVER,
            "login": player.mt5_login,
            "deal_id": str(self._deal_base + self._next()),
            "position_id": position.position_id,
            "symbol": position.symbol,
            "volume_lots": str(volume),
            "entry": entry,
            "profit": str(profit),
            "currency": "USD",
            "closed_at": _iso(at),
            "price": str(price),
        }

    def _kyc(self) -> list[Outgoing]:
        player = self._pick(lambda p: p.kyc in (None, "pending"))
        if player is None:
            return self._deposit()
        player.kyc = (
            "pending" if player.kyc is None else self.rng.choices(["passed", "failed"], [85, 15])[0]
        )
        now = self.clock()
        data = {"player_id": player.crm_id, "status": player.kyc, "updated_at": _iso(now)}
        return [self._event(COMPLIANCE, "kyc.updated", now, data)]

    def _purchase(self) -> list[Outgoing]:
        player = self._pick(lambda p: not p.excluded)
        if player is None:
            return self._register()
        product, price = self.rng.choice(PRODUCTS)
        purchase_id = self._ext_id("PU")
        player.purchases.append((purchase_id, price))
        now = self.clock()
        data = {
            "purchase_id": purchase_id,
            "player_id": player.crm_id,
            "product": product,
            "amount": str(price),
            "currency": player.currency,
        }
        return [self._event(CRM, "purchase.created", now, data)]

    def _refund(self) -> list[Outgoing]:
        player = self._pick(lambda p: bool(p.purchases))
        if player is None:
            return self._purchase()
        purchase_id, price = player.purchases.pop(self.rng.randrange(len(player.purchases)))
        now = self.clock()
        data = {
            "purchase_id": purchase_id,
            "player_id": player.crm_id,
            "product": "refund",
            "amount": str(price),
            "currency": player.currency,
        }
        return [self._event(CRM, "purchase.refunded", now, data)]

    def _chargeback(self) -> list[Outgoing]:
        player = self._pick(lambda p: bool(p.deposits) and p.payments_id is not None)
        if player is None:
            return self._deposit()
        deposit_id, amount = self.rng.choice(player.deposits)
        now = self.clock()
        data = {
            "chargeback_id": self._ext_id("CB"),
            "player_id": player.payments_id,
            "amount": str(amount),
            "currency": player.currency,
            "deposit_id": deposit_id,
            "reason": self.rng.choice(["fraud", "product not received", "duplicate processing"]),
        }
        return [self._event(PAYMENTS, "chargeback.created", now, data)]

    def _exclusion_start(self) -> list[Outgoing]:
        player = self._pick(lambda p: not p.excluded)
        if player is None:
            return self._register()
        player.excluded = True
        now = self.clock()
        data = {
            "player_id": player.crm_id,
            "starts_at": _iso(now),
            "scheme": self.rng.choice(["operator", "gamstop", "spelpaus"]),
        }
        if self.rng.random() < 0.6:
            data["ends_at"] = _iso(now + dt.timedelta(days=self.rng.choice([30, 180, 365])))
        return [self._event(COMPLIANCE, "self_exclusion.started", now, data)]

    def _exclusion_end(self) -> list[Outgoing]:
        player = self._pick(lambda p: p.excluded)
        if player is None:
            return self._kyc()
        player.excluded = False
        now = self.clock()
        return [
            self._event(
                COMPLIANCE,
                "self_exclusion.ended",
                now,
                {"player_id": player.crm_id, "ended_at": _iso(now)},
            )
        ]
