"""Real-time accrual: what a fact earns, the moment it is recorded (DOMAIN.md "Commission plans",
"Trades", "Compliance gates").

Each function is called by a handler inside the inbound event's transaction, with the fact that
event recorded. Every accrual passes `accrual_gate`; a blocked one is booked as a suppressed line
with its reason. Out-of-order arrival is expected: CPA qualification is re-evaluated from the
facts held whenever one of its inputs arrives.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.db.models import Q, Sum

from apps.commissions import periods
from apps.commissions.calculators import ZERO, ledger_amount, lot_rebate, percent_of, spread_share
from apps.commissions.models import CommissionEntry, InstrumentSymbol, LotRate, Plan
from apps.commissions.services.ledger import (
    Kind,
    Line,
    Status,
    commission_entries_set_status,
    entry_book,
    overrides_book,
    plan_for,
)
from apps.commissions.services.restatements import (
    revshare_restate_on_exclusion,
    revshare_restatement_book,
)
from apps.compliance.gates import GatePurpose, accrual_gate
from apps.compliance.models import KycRecord
from apps.compliance.selectors import player_exclusion_from
from apps.core.display import format_money
from apps.core.fx import FxRateMissing, fx_quote
from apps.players.facts import Deposit, Purchase, RevenueReport, Trade
from apps.players.locks import player_lock
from apps.players.models import Player

_SYMBOL_SUFFIX_SEPARATORS = (".", "#", "_", "-")


def _book_with_overrides(*, line: Line, player: Player, source_event_id: int) -> CommissionEntry:
    entry, created = entry_book(line=line, source_event_id=source_event_id)
    if created:
        overrides_book(lines=[entry], brand=player.brand, source_event_id=source_event_id)
    return entry


def _gate_line(line: Line, *, player: Player, purpose: str, kyc_required: bool = True) -> Line:
    gate = accrual_gate(
        player=player,
        affiliate=line.affiliate,
        at=line.occurred_at,
        purpose=purpose,
        kyc_required=kyc_required,
    )
    if not gate.allowed:
        line.status, line.status_reason = Status.SUPPRESSED, gate.reason
    elif gate.override_id:
        line.detail["override_id"] = gate.override_id
    return line


# --- CPA --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CpaQualification:
    """Whether a player meets a CPA plan's rules from the facts held, and since when.

    `failed` is final: the player can never qualify (the FTD is in a currency the FX table has
    no rate for on its date); `waiting_for` is what is missing otherwise. `conversions` are the
    FX quotes that turned deposits into the plan currency (stored on the CPA line)."""

    qualified: bool
    qualified_at: dt.datetime | None = None
    waiting_for: str = ""
    ftd_amount: Decimal = ZERO
    failed: bool = False
    conversions: tuple = ()


@dataclass(frozen=True)
class _Counted:
    """A deposit as it counts toward a CPA threshold: in the plan currency, or not at all."""

    amount: Decimal | None
    quote: dict | None = None
    missing: str = ""


def _in_plan_currency(deposit: Deposit, plan: Plan) -> _Counted:
    """A deposit in another currency counts at the FX table's rate for its time (DOMAIN.md
    "Controls": currency); with no rate it does not count, and why is kept."""
    if deposit.currency == plan.currency:
        return _Counted(amount=deposit.amount)
    try:
        quote = fx_quote(base=deposit.currency, quote=plan.currency, at=deposit.occurred_at)
    except FxRateMissing:
        return _Counted(
            amount=None,
            missing=(
                f"no {deposit.currency}->{plan.currency} rate in the FX table for "
                f"{periods.local_date(deposit.occurred_at)} (deposit {format_money(deposit.amount, deposit.currency)})"
            ),
        )
    return _Counted(
        amount=ledger_amount(deposit.amount * quote.rate),
        quote={**quote.describe(), "deposit": str(deposit.amount)},
    )


def _ftd_met(*, player: Player, plan: Plan) -> tuple[dt.datetime | None, Decimal, str, tuple, bool]:
    """(met at, FTD in plan currency, what is missing, FX quotes used, failed for good)."""
    ftd = Deposit.objects.filter(player=player, is_first=True).first()
    if ftd is None:
        return None, ZERO, "first-time deposit", (), False
    if not plan.cpa_ftd_sum_24h:
        counted = _in_plan_currency(ftd, plan)
        if counted.amount is None:
            return None, ZERO, f"FTD does not count: {counted.missing}", (), True
        quotes = (counted.quote,) if counted.quote else ()
        if counted.amount >= plan.cpa_min_ftd:
            return ftd.occurred_at, counted.amount, "", quotes, False
        return None, counted.amount, "FTD below minimum", quotes, False
    running = ZERO
    quotes, missing = [], []
    deposits = Deposit.objects.filter(
        player=player,
        occurred_at__gte=ftd.occurred_at,
        occurred_at__lt=ftd.occurred_at + dt.timedelta(hours=24),
    ).order_by("occurred_at", "pk")
    for deposit in deposits:
        counted = _in_plan_currency(deposit, plan)
        if counted.amount is None:
            missing.append(counted.missing)
            continue
        if counted.quote:
            quotes.append(counted.quote)
        running += counted.amount
        if running >= plan.cpa_min_ftd:
            return deposit.occurred_at, running, "", tuple(quotes), False
    note = f"; not counted: {'; '.join(missing)}" if missing else ""
    return None, running, f"FTD (24 h sum) below minimum{note}", tuple(quotes), False


def _wagering_met(*, player: Player, plan: Plan) -> tuple[dt.datetime | None, str]:
    if plan.cpa_min_wagering <= 0:
        return None, ""
    running = ZERO
    reports = RevenueReport.objects.filter(
        player=player, is_current=True, currency=plan.currency
    ).order_by("date")
    for date, stakes in reports.values_list("date", "stakes"):
        running += stakes
        if running >= plan.cpa_min_wagering:
            # A day's stakes are complete at the end of that (operator-local) day.
            end_of_day = dt.datetime.combine(
                date + dt.timedelta(days=1), dt.time.min, tzinfo=periods.operator_zone()
            )
            return end_of_day, ""
    return None, "minimum wagering"


def cpa_qualification(*, player: Player, plan: Plan) -> CpaQualification:
    """Check the CPA rules that do not depend on compliance: FTD >= min (optionally the first
    24 h summed), minimum wagering, KYC passed (plan setting), all inside the window from
    registration. qualified_at = the latest of the met conditions."""
    met: list[dt.datetime] = []
    ftd_at, ftd_amount, missing, conversions, failed = _ftd_met(player=player, plan=plan)
    if ftd_at is None:
        return CpaQualification(
            qualified=False, waiting_for=missing, ftd_amount=ftd_amount, failed=failed
        )
    met.append(ftd_at)
    if plan.cpa_min_wagering > 0:
        wagered_at, missing = _wagering_met(player=player, plan=plan)
        if wagered_at is None:
            return CpaQualification(qualified=False, waiting_for=missing, ftd_amount=ftd_amount)
        met.append(wagered_at)
    if plan.cpa_kyc_required:
        kyc = KycRecord.objects.filter(player=player, is_current=True).first()
        if kyc is None or kyc.status != KycRecord.Status.PASSED:
            return CpaQualification(
                qualified=False, waiting_for="KYC passed", ftd_amount=ftd_amount
            )
        met.append(kyc.updated_at)
    qualified_at = max(met)
    if qualified_at > player.registered_at + dt.timedelta(days=plan.cpa_window_days):
        return CpaQualification(
            qualified=False, waiting_for="window expired", ftd_amount=ftd_amount
        )
    return CpaQualification(
        qualified=True, qualified_at=qualified_at, ftd_amount=ftd_amount, conversions=conversions
    )


def cpa_evaluate(*, player: Player, source_event_id: int) -> CommissionEntry | None:
    """Book the player's CPA if it now qualifies (at most one CPA per player, ever).

    Called when a deposit, a KYC report or a revenue report arrives for the player. The line is
    pending until the period close approves it past the plan's hold; a gate refusal books it
    suppressed with the reason.
    """
    if player.affiliate_id is None:
        return None
    with transaction.atomic():
        player_lock(player)
        existing = (
            CommissionEntry.objects.filter(player=player, kind=Kind.CPA)
            .select_related("plan")
            .first()
        )
        if existing is not None:
            _cpa_recheck(existing, player=player)
            return None
        # The plan in force when the player registered decides the rules; the line uses it.
        plan = plan_for(
            affiliate_id=player.affiliate_id, brand=player.brand, at=player.registered_at
        )
        if plan is None or not plan.pays_cpa:
            return None
        result = cpa_qualification(player=player, plan=plan)
        if result.failed:
            # It can never qualify: the line records why (the one CPA line the player will have).
            ftd = Deposit.objects.filter(player=player, is_first=True).first()
            line = Line(
                kind=Kind.CPA,
                affiliate=player.affiliate,
                player=player,
                plan=plan,
                amount=plan.cpa_amount,
                currency=plan.currency,
                occurred_at=ftd.occurred_at,
                status=Status.FAILED,
                status_reason=f"Does not qualify: {result.waiting_for}",
                detail={"ftd": {"amount": str(ftd.amount), "currency": ftd.currency}},
            )
            return _book_with_overrides(line=line, player=player, source_event_id=source_event_id)
        if not result.qualified:
            return None
        detail = {
            "qualified_at": result.qualified_at.isoformat(),
            "ftd_amount": str(result.ftd_amount),
        }
        if result.conversions:
            detail["fx"] = list(result.conversions)
        line = Line(
            kind=Kind.CPA,
            affiliate=player.affiliate,
            player=player,
            plan=plan,
            amount=plan.cpa_amount,
            currency=plan.currency,
            occurred_at=result.qualified_at,
            status=Status.PENDING,
            approve_after=result.qualified_at + dt.timedelta(days=plan.cpa_hold_days),
            detail=detail,
        )
        _gate_line(line, player=player, purpose=GatePurpose.CPA, kyc_required=plan.cpa_kyc_required)
        if line.status == Status.PENDING:
            # An exclusion fails the unapproved CPA whenever it arrives: arriving first, it
            # leaves the CPA failed the same (whatever order the facts came in).
            exclusion = player_exclusion_from(player=player, at=result.qualified_at)
            if exclusion is not None:
                line.status = Status.FAILED
                line.status_reason = (
                    f"Player self-excluded from {exclusion.starts_at.isoformat()} before approval"
                )
        return _book_with_overrides(line=line, player=player, source_event_id=source_event_id)


def _cpa_recheck(cpa: CommissionEntry, *, player: Player) -> None:
    """A pending CPA whose qualification no longer holds fails. It happens when a deposit that
    arrives late but happened earlier takes the first-deposit flag over and is below the
    minimum: the player never qualified."""
    if cpa.status != Status.PENDING or cpa.plan is None:
        return
    result = cpa_qualification(player=player, plan=cpa.plan)
    if not result.qualified:
        commission_entries_set_status(
            entries=[cpa],
            to_status=Status.FAILED,
            actor_label="cpa re-check",
            reason=f"No longer qualifies: {result.waiting_for}",
        )


def player_cpa_fail_on_exclusion(
    *, player: Player, starts_at: dt.datetime
) -> list[CommissionEntry]:
    """A self-exclusion fails the player's unapproved CPA (and the overrides on it). Approved or
    paid CPAs are left alone: nothing earlier is reversed."""
    pending = CommissionEntry.objects.filter(player=player, kind=Kind.CPA, status=Status.PENDING)
    return commission_entries_set_status(
        entries=pending,
        to_status=Status.FAILED,
        actor_label="self_exclusion.started",
        reason=f"Player self-excluded from {starts_at.isoformat()} before approval",
    )


_EXCLUSION_REVERSIBLE = (Kind.CPA, Kind.LOT_REBATE, Kind.SPREAD_SHARE, Kind.PROP_FEE)


def player_accruals_on_exclusion(
    *,
    player: Player,
    starts_at: dt.datetime,
    ends_at: dt.datetime | None = None,
    source_event_id: int,
) -> list[CommissionEntry]:
    """Nothing stays accrued for a player while self-excluded, whatever order the facts arrived
    in (DOMAIN.md "Compliance gates"). The unapproved CPA fails; lines that accrued from the
    exclusion's start (before its end) because they arrived before the exclusion did are undone:
    pending ones fail, approved or paid ones are reversed in the open period, with their parents'
    overrides. Nothing that happened before the start is touched. RevShare is gated per revenue
    day at the close; closed months the exclusion reaches back into are restated."""
    window = Q(occurred_at__gte=starts_at) & (
        Q() if ends_at is None else Q(occurred_at__lt=ends_at)
    )
    reason = f"Player self-excluded from {starts_at.isoformat()}"
    with transaction.atomic():
        player_lock(player)
        moved = player_cpa_fail_on_exclusion(player=player, starts_at=starts_at)
        pending = CommissionEntry.objects.filter(
            window, player=player, kind__in=_EXCLUSION_REVERSIBLE, status=Status.PENDING
        )
        moved += commission_entries_set_status(
            entries=pending,
            to_status=Status.FAILED,
            actor_label="self_exclusion.started",
            reason=reason,
        )
        accrued = (
            CommissionEntry.objects.filter(
                window,
                player=player,
                kind__in=_EXCLUSION_REVERSIBLE,
                status__in=[Status.APPROVED, Status.PAID],
            )
            .exclude(reversals__detail__has_key="self_exclusion")
            .order_by("pk")
        )
        for entry in accrued:
            moved += _reverse_with_overrides(
                entry,
                share=Decimal(1),
                occurred_at=entry.occurred_at,
                key=f"exclusion:{source_event_id}",
                detail={
                    "self_exclusion": starts_at.isoformat(),
                    "reason": f"{reason}; accrued before it arrived",
                },
            )
        if player.affiliate_id is not None:
            moved += revshare_restate_on_exclusion(
                player=player, starts_at=starts_at, source_event_id=source_event_id
            )
    return moved


# --- trades -----------------------------------------------------------------------------------


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
    return f"{trade.platform}/{trade.server}/{trade.login}/{trade.symbol}/{trade.volume_lots.normalize()}/{trade.closed_at.isoformat()}"


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
                reason = f"Held {held.normalize():f} s, under the plan's minimum of {plan.min_hold_seconds} s"
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
                _gate_line(line, player=player, purpose=GatePurpose.LOT_REBATE)
            entry, created = entry_book(line=line, source_event_id=source_event_id)
            if created:
                booked.append(entry)
        if booked:
            overrides_book(lines=booked, brand=player.brand, source_event_id=source_event_id)
        return booked


# --- prop-firm purchases -------------------------------------------------------------------------


def purchase_accrue(*, purchase: Purchase, source_event_id: int) -> CommissionEntry | None:
    """The prop fee on a challenge purchase: pending until the refund window has passed.

    A purchase made earlier that arrives late takes the first-purchase flag over: the fee booked
    on the purchase that was first until then is re-checked (`_prop_fee_recheck`) before the new
    first purchase earns its own.
    """
    player = purchase.player
    if player.affiliate_id is None:
        return None
    with transaction.atomic():
        if purchase.is_first_purchase:
            player_lock(player)
            _prop_fee_recheck(player=player, first=purchase, source_event_id=source_event_id)
        plan = plan_for(
            affiliate_id=player.affiliate_id, brand=player.brand, at=purchase.purchased_at
        )
        if plan is None or plan.kind != Plan.Kind.PROP_FEE:
            return None
        if plan.prop_first_purchase_only and not purchase.is_first_purchase:
            return None
        line = Line(
            kind=Kind.PROP_FEE,
            affiliate=player.affiliate,
            player=player,
            plan=plan,
            amount=percent_of(purchase.amount, plan.prop_fee_percent),
            currency=purchase.currency,
            occurred_at=purchase.purchased_at,
            status=Status.PENDING,
            quantity=purchase.amount,
            rate=plan.prop_fee_percent,
            approve_after=purchase.purchased_at + dt.timedelta(days=plan.prop_refund_window_days),
            detail={
                "purchase": f"{purchase.system}:{purchase.purchase_id}",
                "product": purchase.product,
            },
        )
        _gate_line(line, player=player, purpose=GatePurpose.PROP_FEE)
        return _book_with_overrides(line=line, player=player, source_event_id=source_event_id)


def _prop_fee_recheck(
    *, player: Player, first: Purchase, source_event_id: int
) -> list[CommissionEntry]:
    """Fees of first-purchase-only plans booked on another purchase than the player's first one.

    It happens when a purchase made earlier arrives late (mirrors `_cpa_recheck` for a late
    first deposit). A pending fee fails (with its overrides); an approved or paid one is
    reversed by negative lines in the open period, referencing it (its statement is immutable).
    """
    stale = list(
        CommissionEntry.objects.filter(
            player=player,
            kind=Kind.PROP_FEE,
            plan__prop_first_purchase_only=True,
            status__in=[Status.PENDING, Status.APPROVED, Status.PAID],
        )
        .exclude(source_event_id=first.source_event_id)
        .order_by("pk")
    )
    reason = (
        f"No longer the player's first purchase: {first.system}:{first.purchase_id}, made "
        f"{first.purchased_at.isoformat()}, arrived late"
    )
    moved: list[CommissionEntry] = []
    pending = [fee for fee in stale if fee.status == Status.PENDING]
    if pending:
        moved += commission_entries_set_status(
            entries=pending, to_status=Status.FAILED, actor_label="prop fee re-check", reason=reason
        )
    for fee in stale:
        if fee.status in (Status.APPROVED, Status.PAID):
            moved += _reverse_with_overrides(
                fee,
                share=Decimal(1),
                occurred_at=first.purchased_at,
                key=f"first_moved:{source_event_id}",
                detail={"reason": reason},
            )
    return moved


def _reverse_with_overrides(
    fee: CommissionEntry, *, share: Decimal, occurred_at: dt.datetime, key: str, detail: dict
) -> list[CommissionEntry]:
    """Negative lines reversing `share` of an approved line and of its parents' overrides,
    booked once per `key` in the first open period."""
    booked = []
    originals = [
        fee,
        *CommissionEntry.objects.filter(
            basis=fee, kind=Kind.OVERRIDE, status__in=[Status.APPROVED, Status.PAID]
        ).order_by("pk"),
    ]
    for original in originals:
        line = Line(
            kind=Kind.REVERSAL,
            affiliate=original.affiliate,
            player=original.player,
            plan=original.plan,
            amount=-ledger_amount(original.amount * share),
            currency=original.currency,
            occurred_at=occurred_at,
            status=Status.APPROVED,
            reverses=original,
            detail=dict(detail),
        )
        entry, _ = entry_book(line=line, idempotency_key=f"{key}:{original.pk}")
        booked.append(entry)
    return booked


def purchase_refund_accrue(*, purchase: Purchase, source_event_id: int) -> list[CommissionEntry]:
    """A refund inside the refund window cancels the pending fee (and its overrides); after
    approval it books negative lines (proportional to the refund) that reverse them."""
    if purchase.source_event_id is None:
        return []
    fee = CommissionEntry.objects.filter(
        source_event_id=purchase.source_event_id, kind=Kind.PROP_FEE, player=purchase.player
    ).first()
    if fee is None:
        return []
    with transaction.atomic():
        fee = CommissionEntry.objects.select_for_update().get(pk=fee.pk)
        if fee.status == Status.PENDING:
            return commission_entries_set_status(
                entries=[fee],
                to_status=Status.CANCELLED,
                actor_label="purchase.refunded",
                reason=f"Purchase refunded at {purchase.refunded_at.isoformat()}, inside the refund window",
            )
        if fee.status not in (Status.APPROVED, Status.PAID):
            return []
        share = (
            (purchase.refund_amount if purchase.refund_amount is not None else purchase.amount)
            / purchase.amount
            if purchase.amount
            else Decimal(1)
        )
        return _reverse_with_overrides(
            fee,
            share=share,
            occurred_at=purchase.refunded_at,
            key=f"refund:{source_event_id}",
            detail={"refund_of": fee.pk, "share": str(share)},
        )


def revenue_accrue(*, report: RevenueReport, source_event_id: int) -> CommissionEntry | None:
    """Revenue is paid as RevShare at the period close; in real time it matters to CPA
    qualification (minimum wagering), and a report for a day of a closed period books the
    RevShare difference in the open period (`revshare_restatement_book`)."""
    revshare_restatement_book(report=report, source_event_id=source_event_id)
    return cpa_evaluate(player=report.player, source_event_id=source_event_id)
