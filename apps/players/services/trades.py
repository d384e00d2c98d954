"""Closed trades."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction

from apps.players.facts import Trade
from apps.players.models import Player
from apps.players.services.common import (
    FactError,
    checked_amount,
    checked_aware,
    checked_currency,
    checked_optional_amount,
    checked_required,
    insert_fact,
)

# --- trades -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TradeResult:
    trade: Trade
    created: bool


def trade_record(
    *,
    player: Player,
    system: str,
    platform: str,
    server: str,
    login: str,
    deal_id: str,
    position_id: str,
    symbol: str,
    volume_lots: Decimal,
    entry: str,
    profit: Decimal,
    currency: str,
    closed_at: dt.datetime,
    opened_at: dt.datetime | None = None,
    swap: Decimal | None = None,
    commission: Decimal | None = None,
    price: Decimal | None = None,
    source_event_id: int | None,
) -> TradeResult:
    """Record one closed deal once per (platform, server, deal_id)."""
    if platform not in Trade.Platform.values:
        raise FactError(
            f"Unknown platform {platform!r}; expected one of {', '.join(Trade.Platform.values)}."
        )
    if entry not in Trade.Entry.values:
        raise FactError(
            f"Unknown entry {entry!r}; expected one of {', '.join(Trade.Entry.values)}."
        )
    for value, name in (
        (system, "system"),
        (server, "server"),
        (login, "login"),
        (deal_id, "deal_id"),
        (position_id, "position_id"),
        (symbol, "symbol"),
    ):
        checked_required(value, name)
    checked_aware(closed_at, "closed_at")
    if opened_at is not None:
        checked_aware(opened_at, "opened_at")
    with transaction.atomic():
        trade, created = insert_fact(
            Trade,
            key={"platform": platform, "server": server, "deal_id": deal_id},
            values={
                "player": player,
                "system": system,
                "login": login,
                "position_id": position_id,
                "symbol": symbol,
                "volume_lots": checked_amount(volume_lots, "volume_lots", non_negative=True),
                "entry": entry,
                "profit": checked_amount(profit, "profit"),
                "swap": checked_optional_amount(swap, "swap"),
                "commission": checked_optional_amount(commission, "commission"),
                "price": None if price is None else checked_amount(price, "price"),
                "currency": checked_currency(currency),
                "opened_at": opened_at,
                "closed_at": closed_at,
                "source_event_id": source_event_id,
            },
        )
        if created:
            return TradeResult(trade=trade, created=True)
        if trade.player_id != player.pk:
            raise FactError(f"Deal {platform}/{server}/{deal_id} was recorded for another player.")
    return TradeResult(trade=trade, created=False)
