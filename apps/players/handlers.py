"""Inbound event handlers that record the player facts (WEBHOOKS.md §2): deposits, revenue
reports, trades, purchases and refunds, chargebacks. Each calls the one service that owns the
fact (apps/players/services.py) and passes what this delivery recorded on with `ctx.record()`;
a duplicate delivery records nothing new, so the reactions after it act once.

A fact handler receives the event's player, already resolved: resolution and parking belong to
apps.mappings, which sits above this app. `apps/mappings/handlers.py` composes each handler here
with the resolution of the data field it names (`player_named_by`), and the pipeline
declaration (apps/pipeline/pipelines.py) runs those compositions. Handlers hold no business
rules: idempotency, first-deposit detection and the like live in the services, so the admin,
the API and the pipeline behave the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

from apps.integrations.inbound.public import EventContext
from apps.players.facts import Chargeback, Deposit, Purchase, RevenueReport, Trade
from apps.players.models import Player
from apps.players.services import (
    chargeback_record,
    deposit_record,
    player_identity_values_record,
    purchase_record,
    purchase_refund,
    revenue_report_record,
    trade_record,
)

PlayerFactHandler = Callable[[EventContext, Player], None]


def player_named_by(field: str) -> Callable[[PlayerFactHandler], PlayerFactHandler]:
    """Declare which `data` field holds the player's external id (resolved by apps.mappings)."""

    def mark(handler: PlayerFactHandler) -> PlayerFactHandler:
        handler.player_field = field
        return handler

    return mark


def occurred_at(ctx: EventContext) -> datetime:
    # The envelope timestamp is required and validated before handlers run; this guards the
    # contract rather than guessing a time.
    if ctx.occurred_at is None:
        raise ValueError(f"Event {ctx.event_id} ({ctx.event_type}) has no occurrence time.")
    return ctx.occurred_at


@player_named_by("player_id")
def deposit_created(ctx: EventContext, player: Player) -> None:
    data = ctx.data
    result = deposit_record(
        player=player,
        system=ctx.id_system,
        deposit_id=data["deposit_id"],
        amount=data["amount"],
        currency=data["currency"],
        occurred_at=occurred_at(ctx),
        source_event_id=ctx.event_id,
    )
    if result.created:
        ctx.record(result.deposit)
    # Identity-bearing values (WEBHOOKS.md §2), for the risk rules after this handler.
    ctx.record(
        *player_identity_values_record(
            player=player,
            data=data,
            seen_at=occurred_at(ctx),
            source_event_id=ctx.event_id,
        )
    )


@player_named_by("player_id")
def revenue_reported(ctx: EventContext, player: Player) -> None:
    data = ctx.data
    result = revenue_report_record(
        player=player,
        system=ctx.id_system,
        report_id=data["report_id"],
        date=data["date"],
        currency=data["currency"],
        stakes=data["stakes"],
        winnings=data["winnings"],
        bonuses=data.get("bonuses"),
        jackpot_contributions=data.get("jackpot_contributions"),
        taxes=data.get("taxes"),
        payment_fees=data.get("payment_fees"),
        adjustments=data.get("adjustments"),
        occurred_at=occurred_at(ctx),
        source_event_id=ctx.event_id,
    )
    if result.created:
        ctx.record(result.report)


@player_named_by("login")
def trade_closed(ctx: EventContext, player: Player) -> None:
    data = ctx.data
    result = trade_record(
        player=player,
        system=ctx.id_system,
        platform=data["platform"],
        server=data["server"],
        login=data["login"],
        deal_id=data["deal_id"],
        position_id=data["position_id"],
        symbol=data["symbol"],
        volume_lots=data["volume_lots"],
        entry=data["entry"],
        profit=data["profit"],
        currency=data["currency"],
        closed_at=data["closed_at"],
        opened_at=data.get("opened_at"),
        swap=data.get("swap"),
        commission=data.get("commission"),
        price=data.get("price"),
        source_event_id=ctx.event_id,
    )
    if result.created:
        ctx.record(result.trade)


@player_named_by("player_id")
def purchase_created(ctx: EventContext, player: Player) -> None:
    data = ctx.data
    result = purchase_record(
        player=player,
        system=ctx.id_system,
        purchase_id=data["purchase_id"],
        product=data["product"],
        amount=data["amount"],
        currency=data["currency"],
        purchased_at=occurred_at(ctx),
        source_event_id=ctx.event_id,
    )
    if result.created:
        ctx.record(result.purchase)


@player_named_by("player_id")
def purchase_refunded(ctx: EventContext, player: Player) -> None:
    data = ctx.data
    result = purchase_refund(
        player=player,
        system=ctx.id_system,
        purchase_id=data["purchase_id"],
        amount=data["amount"],
        currency=data["currency"],
        refunded_at=occurred_at(ctx),
        source_event_id=ctx.event_id,
    )
    if result.refunded:
        ctx.record(result.purchase)


@player_named_by("player_id")
def chargeback_created(ctx: EventContext, player: Player) -> None:
    data = ctx.data
    result = chargeback_record(
        player=player,
        system=ctx.id_system,
        chargeback_id=data["chargeback_id"],
        amount=data["amount"],
        currency=data["currency"],
        occurred_at=occurred_at(ctx),
        deposit_external_id=data.get("deposit_id", ""),
        reason=data.get("reason", ""),
        source_event_id=ctx.event_id,
    )
    # A chargeback reported again (a new event for the same id) is passed on too: its clawback
    # case adds the report to its history.
    ctx.record(result.chargeback)


def _column(model, name: str) -> int:
    return model._meta.get_field(name).max_length


def column_limits() -> Iterator[tuple[str, str, int, None]]:
    """(event type, data field, max length, None) of the fact columns these handlers fill; the
    door refuses longer values with 422 (the player's id is apps.mappings' to limit)."""
    limits = {
        "player.registered": {
            "tracking_token": _column(Player, "tracking_token"),
            "brand": _column(Player, "brand"),
        },
        "deposit.created": {"deposit_id": _column(Deposit, "deposit_id")},
        "revenue.reported": {"report_id": _column(RevenueReport, "report_id")},
        "trade.closed": {
            "login": _column(Trade, "login"),
            "server": _column(Trade, "server"),
            "deal_id": _column(Trade, "deal_id"),
            "position_id": _column(Trade, "position_id"),
            "symbol": _column(Trade, "symbol"),
        },
        "purchase.created": {
            "purchase_id": _column(Purchase, "purchase_id"),
            "product": _column(Purchase, "product"),
        },
        "purchase.refunded": {"purchase_id": _column(Purchase, "purchase_id")},
        "chargeback.created": {
            "chargeback_id": _column(Chargeback, "chargeback_id"),
            "deposit_id": _column(Chargeback, "deposit_external_id"),
            "reason": _column(Chargeback, "reason"),
        },
    }
    for event_type, fields in limits.items():
        for name, max_length in fields.items():
            yield event_type, name, max_length, None
