"""Trade accrual: lot rebates and spread shares per closed deal, with the position caps, hold times
and close-by pairs that decide the payable lots."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.db.models import Sum

from apps.commissions.calculators import ZERO, lot_rebate, spread_share
from apps.commissions.models import CommissionEntry, InstrumentSymbol, LotRate, Plan
from apps.commissions.services.booking import gate_line
from apps.commissions.services.ledger import (
    Kind,
    Line,
    Status,
    entry_book,
    overrides_book,
    plan_for,
)
from apps.compliance.gates import GatePurpose
from apps.players.facts import Trade
from apps.players.locks import player_lock

# --- trades -----------------------------------------------------------------------------------


_SYMBOL_SUFFIX_SEPARATORS = (".", "#", "_", "-")


def symbol_lookup(symbol: str) -> InstrumentSymbol | None:
    """EURUSD, eurusd.m, XAUUSD# -> the mapped symbol (broker suffixes stripped)."""
    plain = symbol.strip().upper()
    found = InstrumentSymbol.objects.select_related("group").filter(symbol=plain).first()
    if found:
        return found
    for separator in _SYMBOL_SUFFIX_SEPARATORS:
        if separator in plain:
            base = plain.split(separator, 1)[0]
            found = InstrumentSymbol.objects.select_related("group").filter(symbol=base).first()
            if found:
                return found
    return None


def _position_deals(trade: Trade):
    return Trade.objects.filter(
        platform=trade.platform, server=trade.server, position_id=trade.position_id
    )


def _deal_order_key(deal: Trade) -> tuple:
    return (deal.closed_at, deal.deal_id)


def _open_volume_before(trade: Trade) -> Decimal | None:
    """Lots open on the deal's position just before it, from the deals held; None when no
    opening deal of the position is known."""
    deals = sorted(_position_deals(trade).exclude(pk=trade.pk), key=_deal_order_key)
    known_open = False
    open_lots = ZERO
    for deal in deals:
        if _deal_order_key(deal) >= _deal_order_key(trade):
            break
        if deal.entry == Trade.Entry.IN:
            open_lots += deal.volume_lots
            known_open = True
        elif deal.entry in (Trade.Entry.OUT, Trade.Entry.OUT_BY):
            open_lots -= deal.volume_lots
        elif deal.entry == Trade.Entry.INOUT and known_open:
            closed = min(deal.volume_lots, max(open_lots, ZERO))
            open_lots = deal.volume_lots - closed
    return max(open_lots, ZERO) if known_open else None


def _position_cap(trade: Trade) -> Decimal | None:
    """The position's volume: its opening deals' lots plus the part each reverse (inout) deal
    opened in the other direction (the reversed position keeps the position id), or None when no
    opening deal is known."""
    deals = sorted(_position_deals(trade), key=_deal_order_key)
    if not any(deal.entry == Trade.Entry.IN for deal in deals):
        return None
    opened = open_lots = ZERO
    for deal in deals:
        if deal.entry == Trade.Entry.IN:
            opened += deal.volume_lots
            open_lots += deal.volume_lots
        elif deal.entry in (Trade.Entry.OUT, Trade.Entry.OUT_BY):
            open_lots = max(open_lots - deal.volume_lots, ZERO)
        elif deal.entry == Trade.Entry.INOUT:
            reopened = max(deal.volume_lots - open_lots, ZERO)
            opened += reopened
            open_lots = reopened
    return opened


def _rebated_lots(position_key: str) -> Decimal:
    total = CommissionEntry.objects.filter(
        position_key=position_key,
        kind__in=[Kind.LOT_REBATE, Kind.SPREAD_SHARE],
        status__in=[Status.PENDING, Status.APPROVED, Status.PAID],
    ).aggregate(lots=Sum("quantity"))["lots"]
    return total or ZERO


def _hold_seconds(trade: Trade) -> Decimal | None:
    opened_at = trade.opened_at
    if opened_at is None:
        first_in = _position_deals(trade).filter(entry=Trade.Entry.IN).order_by("closed_at").first()
        opened_at = first_in.closed_at if first_in else None
    if opened_at is None:
        return None
    return Decimal((trade.closed_at - opened_at).total_seconds())


@dataclass
class TradeLots:
    lots: Decimal
    suppressed_reason: str = ""
    note: str = ""


def payable_lots(*, trade: Trade, plan: Plan, position_key: str) -> TradeLots | None:
    """Lots this deal earns under the plan (None: the deal pays nothing and books nothing).

    close side (default): out pays its lots; inout pays only the part that closed the position;
    out_by pays one leg of the close-by pair (the first leg booked); in pays nothing.
    open side: in pays its lots; inout pays the part that opened the reversed position.
    Rebated lots per position never exceed the position's volume (when its opening is known).
    """
    if not trade.symbol.strip() or trade.volume_lots <= 0:
        return None  # balance, credit, bonus and swap-only deals carry no traded volume
    entry = trade.entry
    if plan.rebate_side == Plan.Side.OPEN:
        if entry == Trade.Entry.IN:
            return TradeLots(lots=trade.volume_lots)
        if entry == Trade.Entry.INOUT:
            before = _open_volume_before(trade)
            if before is None:
                return TradeLots(
                    lots=ZERO,
                    suppressed_reason="Reverse deal: the position's opening volume is unknown",
                )
            return TradeLots(
                lots=max(trade.volume_lots - before, ZERO), note="opened part of a reverse"
            )
        return None
    if entry == Trade.Entry.IN:
        return None
    lots = trade.volume_lots
    note = ""
    if entry == Trade.Entry.INOUT:
        before = _open_volume_before(trade)
        if before is None:
            return TradeLots(
                lots=ZERO,
                suppressed_reason="Reverse deal: the position's opening volume is unknown",
            )
        lots, note = min(lots, before), "closed part of a reverse"
    elif entry == Trade.Entry.OUT_BY:
        counterpart_paid = (
            CommissionEntry.objects.filter(
                kind=Kind.LOT_REBATE,
                status__in=[Status.PENDING, Status.APPROVED, Status.PAID],
                detail__close_by_pair=_close_by_pair(trade),
            )
            .exclude(position_key=position_key)
            .exists()
        )
        if counterpart_paid:
            return TradeLots(
                lots=ZERO, suppressed_reason="Close-by: the other leg of the pair was paid"
            )
        note = "close-by leg"
    cap = _position_cap(trade)
    if cap is not None:
        remaining = max(cap - _rebated_lots(position_key), ZERO)
        if remaining < lots:
            if remaining == 0:
                return TradeLots(
                    lots=ZERO, suppressed_reason=f"Position volume {cap} lots already rebated"
                )
            lots, note = remaining, f"capped at the position's volume {cap}"
    return TradeLots(lots=lots, note=note)


def _close_by_pair(trade: Trade) -> str:
    return (
        f"{trade.platform}/{trade.server}/{trade.login}/{trade.symbol}/"
        f"{trade.volume_lots.normalize()}/{trade.closed_at.isoformat()}"
    )


def trade_accrue(*, trade: Trade, source_event_id: int) -> list[CommissionEntry]:
    """Lot rebate and spread share for one deal (DOMAIN.md "Trades")."""
    player = trade.player
    if player.affiliate_id is None:
        return []
    plan = plan_for(affiliate_id=player.affiliate_id, brand=player.brand, at=trade.closed_at)
    if plan is None or not plan.pays_trades:
        return []
    position_key = f"{trade.platform}/{trade.server}/{trade.position_id}"
    with transaction.atomic():
        player_lock(player)  # serialises the position's cap between concurrent deals
        lots = payable_lots(trade=trade, plan=plan, position_key=position_key)
        if lots is None:
            return []
        instrument = symbol_lookup(trade.symbol)
        detail = {
            "deal": f"{trade.platform}/{trade.server}/{trade.deal_id}",
            "symbol": trade.symbol,
            "entry": trade.entry,
            "deal_lots": str(trade.volume_lots),
        }
        if trade.entry == Trade.Entry.OUT_BY:
            detail["close_by_pair"] = _close_by_pair(trade)
        if lots.note:
            detail["note"] = lots.note
        reason = lots.suppressed_reason
        if not reason and plan.min_hold_seconds and plan.rebate_side == Plan.Side.CLOSE:
            held = _hold_seconds(trade)
            if held is None:
                reason = "Hold time unknown (no open time)"
            elif held < plan.min_hold_seconds:
                reason = (
                    f"Held {held.normalize():f} s, "
                    f"under the plan's minimum of {plan.min_hold_seconds} s"
                )
        lines: list[Line] = []
        if plan.kind == Plan.Kind.LOT_REBATE:
            rate = None
            if instrument is None:
                reason = reason or f"Symbol {trade.symbol} is not mapped to an instrument group"
            else:
                detail["group"] = instrument.group.code
                rate = (
                    LotRate.objects.filter(plan=plan, group=instrument.group)
                    .values_list("rate", flat=True)
                    .first()
                )
                if rate is None:
                    reason = (
                        reason or f"No rebate rate for {instrument.group.code} on plan {plan.name}"
                    )
            lines.append(
                Line(
                    kind=Kind.LOT_REBATE,
                    affiliate=player.affiliate,
                    player=player,
                    plan=plan,
                    amount=lot_rebate(lots.lots, rate or ZERO),
                    currency=plan.currency,
                    occurred_at=trade.closed_at,
                    status=Status.APPROVED,
                    quantity=lots.lots,
                    rate=rate,
                    detail=dict(detail),
                    position_key=position_key,
                )
            )
        if plan.spread_share_percent > 0 and (
            plan.kind == Plan.Kind.SPREAD_SHARE or instrument is not None
        ):
            amount = ZERO
            if instrument is None:
                reason_spread = (
                    reason or f"Symbol {trade.symbol} is not mapped to an instrument group"
                )
            else:
                reason_spread = reason
                amount = spread_share(
                    spread=instrument.spread,
                    contract_size=instrument.contract_size,
                    lots=lots.lots,
                    percent=plan.spread_share_percent,
                )
            lines.append(
                Line(
                    kind=Kind.SPREAD_SHARE,
                    affiliate=player.affiliate,
                    player=player,
                    plan=plan,
                    amount=amount,
                    currency=plan.currency,
                    occurred_at=trade.closed_at,
                    status=Status.APPROVED,
                    quantity=lots.lots,
                    rate=plan.spread_share_percent,
                    detail=dict(detail),
                    position_key="" if plan.kind == Plan.Kind.LOT_REBATE else position_key,
                    status_reason=reason_spread,
                )
            )
        booked: list[CommissionEntry] = []
        for line in lines:
            line.status_reason = line.status_reason or reason
            if line.status_reason:
                line.status = Status.SUPPRESSED
            else:
                gate_line(line, player=player, purpose=GatePurpose.LOT_REBATE)
            entry, created = entry_book(line=line, source_event_id=source_event_id)
            if created:
                booked.append(entry)
        if booked:
            overrides_book(lines=booked, brand=player.brand, source_event_id=source_event_id)
        return booked
