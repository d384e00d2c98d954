"""Months of back-dated player activity for the demo: deposits, daily revenue, closed trades and
a few chargebacks, varied per player so cohorts, churn and reactivation mean something.

Every fact goes through the inbound pipeline (apps.sandbox.demo_feed), so commission lines,
compliance gates and clawback cases are the ones real webhooks would have produced.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from apps.mappings.models import IdentifierMapping
from apps.players.models import Player
from apps.sandbox.demo_feed import DemoFeed
from apps.sandbox.world import CRM, MT5_SERVER, PAYMENTS, SYMBOLS, TRADING

WINDOW = dt.timedelta(days=30)
CURRENCY = {"spinpalace": "EUR", "tradeking": "USD"}
# How a player's activity runs over the windows (30 days each) since registration, weighted:
# one deposit and gone; active a month or two, then churned; active throughout; active, away
# for a month or two, then back (reactivated).
PROFILES = {"one_off": 20, "churned": 30, "loyal": 32, "returning": 18}
DEPOSIT_AMOUNTS = [10, 20, 25, 50, 100, 150, 200, 250, 500, 1000]
CHARGEBACKS = 8


@dataclass
class HistoryResult:
    depositors: int
    profiles: dict[str, int]
    chargebacks: int


def _money(value, places: str = "0.01") -> Decimal:
    return Decimal(str(value)).quantize(Decimal(places), rounding=ROUND_HALF_EVEN)


def _identifiers(players: list[Player]) -> dict[int, dict[str, str]]:
    found: dict[int, dict[str, str]] = {}
    rows = IdentifierMapping.objects.filter(player__in=players).values_list(
        "player_id", "system", "external_id"
    )
    for player_id, system, external_id in rows:
        found.setdefault(player_id, {})[system] = external_id
    return found


def _active_windows(rng: random.Random, profile: str, windows: int) -> list[int]:
    if profile == "one_off" or windows == 1:
        return [0]
    if profile == "churned":
        return list(range(min(windows, rng.randint(1, 2))))
    if profile == "returning" and windows >= 3:
        gap_from = 1
        gap_to = min(windows - 1, gap_from + rng.randint(1, 2))
        return [0, *range(gap_to, windows)]
    return list(range(windows))


class PlayerActivity:
    """Adds one player's facts to the feed, window by window."""

    def __init__(
        self,
        *,
        rng: random.Random,
        feed: DemoFeed,
        player: Player,
        ids: dict[str, str],
        now: dt.datetime,
    ):
        self.rng, self.feed, self.player, self.ids, self.now = rng, feed, player, ids, now
        self.currency = CURRENCY[player.brand]
        self.deposits: list[tuple[str, Decimal, dt.datetime]] = []
        self.position_seq = 0

    def _at(self, start: dt.datetime, *, days: float) -> dt.datetime | None:
        at = start + dt.timedelta(days=days, minutes=self.rng.randrange(0, 600))
        return at if at < self.now else None

    def deposit(self, at: dt.datetime, amount: Decimal) -> None:
        deposit_id = f"DD-{self.player.pk}-{len(self.deposits) + 1}"
        data = {"deposit_id": deposit_id, "amount": str(amount), "currency": self.currency}
        if "payments" in self.ids:
            self.feed.add(
                PAYMENTS, "deposit.created", {**data, "player_id": self.ids["payments"]}, at=at
            )
        else:
            self.feed.add(CRM, "deposit.created", {**data, "player_id": self.ids["crm"]}, at=at)
        self.deposits.append((deposit_id, amount, at))

    def revenue(self, day: dt.date, *, scale: float) -> None:
        stakes = _money(self.rng.uniform(80, 4000) * scale)
        # Mostly the house wins; now and then the player does (negative NGR, carryover).
        winnings = _money(stakes * Decimal(str(self.rng.uniform(0.80, 1.06))))
        at = dt.datetime.combine(day, dt.time(23, 30), tzinfo=dt.UTC)
        if at >= self.now:
            return
        self.feed.add(
            CRM,
            "revenue.reported",
            {
                "report_id": f"DR-{self.player.pk}-{day:%Y%m%d}",
                "player_id": self.ids["crm"],
                "date": day.isoformat(),
                "currency": self.currency,
                "stakes": str(stakes),
                "winnings": str(winnings),
                "bonuses": str(_money(stakes * Decimal("0.02"))),
                "jackpot_contributions": str(_money(stakes * Decimal("0.005"))),
                "taxes": str(_money(max(Decimal(0), stakes - winnings) * Decimal("0.05"))),
                "payment_fees": str(_money(self.rng.uniform(0, 5))),
            },
            at=at,
        )

    def trade(self, closed_at: dt.datetime) -> None:
        self.position_seq += 1
        symbol = self.rng.choice(list(SYMBOLS))
        lots = _money(self.rng.choice([0.1, 0.5, 1, 2, 3.5, 5]))
        # A few scalps under the plans' minimum hold time pay nothing (kept with the reason).
        held = (
            dt.timedelta(seconds=self.rng.randrange(30, 110))
            if self.rng.random() < 0.1
            else dt.timedelta(minutes=self.rng.randrange(5, 4000))
        )
        price = SYMBOLS[symbol]
        close_price = _money(price * Decimal(str(1 + self.rng.uniform(-0.004, 0.004))), "0.00001")
        profit = _money((close_price - price) * lots * 100_000 / max(price, Decimal(1)))
        self.feed.add(
            TRADING,
            "trade.closed",
            {
                "platform": "mt5",
                "server": MT5_SERVER,
                "login": self.ids["mt5-live"],
                "deal_id": f"9{self.player.pk:05d}{self.position_seq:03d}",
                "position_id": f"DPOS-{self.player.pk}-{self.position_seq}",
                "symbol": symbol,
                "volume_lots": str(lots),
                "entry": "out",
                "profit": str(profit),
                "currency": "USD",
                "opened_at": (closed_at - held).isoformat(),
                "closed_at": closed_at.isoformat(),
                "price": str(close_price),
            },
            at=closed_at,
        )

    def play(self, profile: str) -> None:
        registered = self.player.registered_at
        windows = max(1, -(-(self.now - registered) // WINDOW))  # ceil
        first = self._at(registered, days=self.rng.choice([0, 0, 0, 1, 2]))
        if first is None:
            return
        self.deposit(first, _money(self.rng.choice(DEPOSIT_AMOUNTS) * self.rng.uniform(0.9, 1.1)))
        scale = self.rng.uniform(0.3, 2.5)  # small and big players
        for window in _active_windows(self.rng, profile, windows):
            start = registered + window * WINDOW
            if window:
                for _ in range(self.rng.randint(1, 2)):
                    at = self._at(start, days=self.rng.uniform(0, 29))
                    if at:
                        self.deposit(
                            at,
                            _money(self.rng.choice(DEPOSIT_AMOUNTS) * self.rng.uniform(0.9, 1.1)),
                        )
            if self.player.brand == "tradeking" and "mt5-live" in self.ids:
                for _ in range(self.rng.randint(1, 3)):
                    at = self._at(start, days=self.rng.uniform(0.1, 29))
                    if at:
                        self.trade(at)
            elif self.player.brand != "tradeking":
                for _ in range(1 if profile == "one_off" else self.rng.randint(1, 2)):
                    self.revenue(
                        (start + dt.timedelta(days=self.rng.uniform(0, 29))).date(), scale=scale
                    )


def history_add(
    *, rng: random.Random, feed: DemoFeed, players: list[Player], now: dt.datetime
) -> HistoryResult:
    """Add every attributed player's activity to the feed (unattributed players deposit too, but
    earn no one anything), plus a few chargebacks of real deposits."""
    ids = _identifiers(players)
    profiles: dict[str, int] = {}
    depositors: list[PlayerActivity] = []
    names, weights = zip(*PROFILES.items(), strict=True)
    for player in players:
        if rng.random() > 0.75:  # registered, never deposited
            continue
        profile = rng.choices(names, weights=weights)[0]
        activity = PlayerActivity(
            rng=rng, feed=feed, player=player, ids=ids.get(player.pk, {}), now=now
        )
        activity.play(profile)
        if activity.deposits:
            profiles[profile] = profiles.get(profile, 0) + 1
            depositors.append(activity)
    chargebacks = _chargebacks(rng, feed, depositors, now)
    return HistoryResult(depositors=len(depositors), profiles=profiles, chargebacks=chargebacks)


def _chargebacks(
    rng: random.Random, feed: DemoFeed, depositors: list[PlayerActivity], now: dt.datetime
) -> int:
    """Chargebacks of real deposits (by the payments system, which knows the deposit): each opens
    a clawback case for Finance when the player earned someone commission."""
    candidates = [a for a in depositors if "payments" in a.ids and a.player.affiliate_id]
    count = 0
    for activity in rng.sample(candidates, min(CHARGEBACKS, len(candidates))):
        deposit_id, amount, deposited_at = rng.choice(activity.deposits)
        at = deposited_at + dt.timedelta(days=rng.randint(5, 40))
        if at >= now:
            at = deposited_at + (now - deposited_at) / 2
        feed.add(
            PAYMENTS,
            "chargeback.created",
            {
                "chargeback_id": f"DCB-{activity.player.pk}-{count + 1}",
                "player_id": activity.ids["payments"],
                "amount": str(amount),
                "currency": activity.currency,
                "deposit_id": deposit_id,
                "reason": rng.choice(["fraud", "product not received", "duplicate processing"]),
            },
            at=at,
        )
        count += 1
    return count
