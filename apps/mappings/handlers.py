"""Inbound event handlers that record the business facts each canonical event carries.

One handler per event type (WEBHOOKS.md §2). Each resolves the event's player through its
identifier mapping in the sending integration's identifier system (`ctx.id_system`) and calls
the one service that owns the fact. An identifier that is not mapped yet parks the event
(`ParkEvent`); mapping it later (registration API or a `player.registered` event) re-runs it.
Handlers hold no business rules: idempotency, first-deposit detection, restatements and the
like live in the services, so the admin, the API and the pipeline behave the same.

They live in mappings because mappings owns resolution and parking and sits above players and
compliance, whose services they call.

Reactions to the same events (postbacks, commissions) come after these handlers in each event
type's pipeline (apps/pipeline/pipelines.py, the one declaration of what runs, in which order),
so a reaction runs after the fact is recorded, in the same transaction. Each fact handler passes what this
delivery recorded on with `ctx.record(...)` (a refund: the refunded purchase) and the reaction
reads `ctx.recorded(<Fact>)`, without a query; a duplicate delivery records nothing new, so the
reaction finds nothing and acts once. When the player is unknown the event parks before any
reaction runs, and everything is re-run together once the player is mapped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime

from apps.compliance.models import SelfExclusion
from apps.compliance.services import kyc_record_update, self_exclusion_end, self_exclusion_start
from apps.integrations.inbound.public import EventContext, ParkEvent, RejectEvent
from apps.mappings.models import IdentifierMapping
from apps.mappings.services import (
    SYSTEM_PATTERN,
    IdentifierConflict,
    RegistrationInvalid,
    player_register,
    resolve_player,
)
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


def _player(ctx: EventContext, external_id: str) -> Player:
    """The player `external_id` (in the sender's identifier system) belongs to, or park."""
    player = resolve_player(system=ctx.id_system, external_id=external_id)
    if player is None:
        raise ParkEvent(
            ctx.id_system,
            external_id,
            f"No player is mapped to {ctx.id_system}:{external_id} yet ({ctx.event_type}).",
        )
    return player


def _occurred_at(ctx: EventContext) -> datetime:
    # The envelope timestamp is required and validated before handlers run; this guards the
    # contract rather than guessing a time.
    if ctx.occurred_at is None:
        raise ValueError(f"Event {ctx.event_id} ({ctx.event_type}) has no occurrence time.")
    return ctx.occurred_at


def _source(ctx: EventContext) -> str:
    return f"integration:{ctx.integration_slug}"


def player_registered(ctx: EventContext) -> None:
    """Same service as the registration API; a known player gains the identifiers it lacked."""
    data = ctx.data
    try:
        result = player_register(
            tracking_token=data.get("tracking_token"),
            registered_at=data["registered_at"],
            country=data.get("country", ""),
            brand=data.get("brand", ""),
            identifiers={**data.get("identifiers", {}), ctx.id_system: data["player_id"]},
            source=_source(ctx),
            link_new_identifiers=True,
        )
    except (IdentifierConflict, RegistrationInvalid) as exc:
        # Retrying cannot change the answer: straight to the dead letters, for a person.
        raise RejectEvent(str(exc)) from exc
    if result.created:
        ctx.record(result.player)
    # Identity-bearing values (WEBHOOKS.md §2), for the risk rules after this handler.
    ctx.record(
        *player_identity_values_record(
            player=result.player,
            data=data,
            seen_at=data["registered_at"],
            source_event_id=ctx.event_id,
        )
    )


def deposit_created(ctx: EventContext) -> None:
    data = ctx.data
    player = _player(ctx, data["player_id"])
    result = deposit_record(
        player=player,
        system=ctx.id_system,
        deposit_id=data["deposit_id"],
        amount=data["amount"],
        currency=data["currency"],
        occurred_at=_occurred_at(ctx),
        source_event_id=ctx.event_id,
    )
    if result.created:
        ctx.record(result.deposit)
    ctx.record(
        *player_identity_values_record(
            player=player,
            data=data,
            seen_at=_occurred_at(ctx),
            source_event_id=ctx.event_id,
        )
    )


def revenue_reported(ctx: EventContext) -> None:
    data = ctx.data
    result = revenue_report_record(
        player=_player(ctx, data["player_id"]),
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
        occurred_at=_occurred_at(ctx),
        source_event_id=ctx.event_id,
    )
    if result.created:
        ctx.record(result.report)


def trade_closed(ctx: EventContext) -> None:
    data = ctx.data
    result = trade_record(
        player=_player(ctx, data["login"]),
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


def purchase_created(ctx: EventContext) -> None:
    data = ctx.data
    result = purchase_record(
        player=_player(ctx, data["player_id"]),
        system=ctx.id_system,
        purchase_id=data["purchase_id"],
        product=data["product"],
        amount=data["amount"],
        currency=data["currency"],
        purchased_at=_occurred_at(ctx),
        source_event_id=ctx.event_id,
    )
    if result.created:
        ctx.record(result.purchase)


def purchase_refunded(ctx: EventContext) -> None:
    data = ctx.data
    result = purchase_refund(
        player=_player(ctx, data["player_id"]),
        system=ctx.id_system,
        purchase_id=data["purchase_id"],
        amount=data["amount"],
        currency=data["currency"],
        refunded_at=_occurred_at(ctx),
        source_event_id=ctx.event_id,
    )
    if result.refunded:
        ctx.record(result.purchase)


def chargeback_created(ctx: EventContext) -> None:
    data = ctx.data
    result = chargeback_record(
        player=_player(ctx, data["player_id"]),
        system=ctx.id_system,
        chargeback_id=data["chargeback_id"],
        amount=data["amount"],
        currency=data["currency"],
        occurred_at=_occurred_at(ctx),
        deposit_external_id=data.get("deposit_id", ""),
        reason=data.get("reason", ""),
        source_event_id=ctx.event_id,
    )
    # A chargeback reported again (a new event for the same id) is passed on too: its clawback
    # case adds the report to its history.
    ctx.record(result.chargeback)


def kyc_updated(ctx: EventContext) -> None:
    data = ctx.data
    kyc_record_update(
        player=_player(ctx, data["player_id"]),
        status=data["status"],
        occurred_at=data["updated_at"],
        source=_source(ctx),
    )


def self_exclusion_started(ctx: EventContext) -> None:
    data = ctx.data
    self_exclusion_start(
        player=_player(ctx, data["player_id"]),
        starts_at=data["starts_at"],
        ends_at=data.get("ends_at"),
        scheme=data.get("scheme") or "operator",
        source=_source(ctx),
    )


def self_exclusion_ended(ctx: EventContext) -> None:
    data = ctx.data
    self_exclusion_end(
        player=_player(ctx, data["player_id"]),
        ended_at=data["ended_at"],
        scheme=data.get("scheme"),
        source=_source(ctx),
    )


def _column(model, name: str) -> int:
    return model._meta.get_field(name).max_length


def _stored_text_limits() -> dict[str, dict[str, int]]:
    """Per event type, the `data` fields these handlers store in a column, and its length. A
    `player_id` (a trading `login`) is looked up as a mapping's external id, so a longer one
    could never resolve and would park until it is dead-lettered."""
    mapped_id = _column(IdentifierMapping, "external_id")
    return {
        "player.registered": {
            "player_id": mapped_id,
            "tracking_token": _column(Player, "tracking_token"),
            "brand": _column(Player, "brand"),
        },
        "deposit.created": {"player_id": mapped_id, "deposit_id": _column(Deposit, "deposit_id")},
        "revenue.reported": {
            "player_id": mapped_id,
            "report_id": _column(RevenueReport, "report_id"),
        },
        "trade.closed": {
            "login": min(mapped_id, _column(Trade, "login")),
            "server": _column(Trade, "server"),
            "deal_id": _column(Trade, "deal_id"),
            "position_id": _column(Trade, "position_id"),
            "symbol": _column(Trade, "symbol"),
        },
        "purchase.created": {
            "player_id": mapped_id,
            "purchase_id": _column(Purchase, "purchase_id"),
            "product": _column(Purchase, "product"),
        },
        "purchase.refunded": {
            "player_id": mapped_id,
            "purchase_id": _column(Purchase, "purchase_id"),
        },
        "chargeback.created": {
            "player_id": mapped_id,
            "chargeback_id": _column(Chargeback, "chargeback_id"),
            "deposit_id": _column(Chargeback, "deposit_external_id"),
            "reason": _column(Chargeback, "reason"),
        },
        "kyc.updated": {"player_id": mapped_id},
        "self_exclusion.started": {
            "player_id": mapped_id,
            "scheme": _column(SelfExclusion, "scheme"),
        },
        "self_exclusion.ended": {
            "player_id": mapped_id,
            "scheme": _column(SelfExclusion, "scheme"),
        },
    }


def column_limits() -> Iterator[tuple[str, str, int, re.Pattern | None]]:
    """(event type, field, max length, key pattern) of what these handlers store, which the door
    enforces (declared through apps/pipeline/pipelines.py)."""
    for event_type, fields in _stored_text_limits().items():
        for name, max_length in fields.items():
            yield event_type, name, max_length, None
    # {system: id}: each becomes an identifier mapping.
    yield (
        "player.registered",
        "identifiers",
        _column(IdentifierMapping, "external_id"),
        SYSTEM_PATTERN,
    )
