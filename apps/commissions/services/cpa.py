"""CPA accrual: qualification from the facts held, re-evaluated whenever an input arrives, and what
a player's exclusion does to the lines accrued for them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.db.models import Q

from apps.commissions import periods
from apps.commissions.calculators import ZERO, ledger_amount
from apps.commissions.models import CommissionEntry, Plan
from apps.commissions.services.booking import book_with_overrides, gate_line, reverse_with_overrides
from apps.commissions.services.ledger import (
    Kind,
    Line,
    Status,
    commission_entries_set_status,
    plan_for,
)
from apps.commissions.services.restatements import revshare_restate_on_exclusion
from apps.compliance.gates import GatePurpose
from apps.compliance.models import KycRecord
from apps.compliance.selectors import player_exclusion_from
from apps.core.display import format_money
from apps.core.fx import FxRateMissing, fx_quote
from apps.players.facts import Deposit, RevenueReport
from apps.players.locks import player_lock
from apps.players.models import Player

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
                f"{periods.local_date(deposit.occurred_at)} "
                f"(deposit {format_money(deposit.amount, deposit.currency)})"
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
            cpa_recheck(existing, player=player)
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
            return book_with_overrides(line=line, player=player, source_event_id=source_event_id)
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
        gate_line(line, player=player, purpose=GatePurpose.CPA, kyc_required=plan.cpa_kyc_required)
        if line.status == Status.PENDING:
            # An exclusion fails the unapproved CPA whenever it arrives: arriving first, it
            # leaves the CPA failed the same (whatever order the facts came in).
            exclusion = player_exclusion_from(player=player, at=result.qualified_at)
            if exclusion is not None:
                line.status = Status.FAILED
                line.status_reason = (
                    f"Player self-excluded from {exclusion.starts_at.isoformat()} before approval"
                )
        return book_with_overrides(line=line, player=player, source_event_id=source_event_id)


def cpa_recheck(cpa: CommissionEntry, *, player: Player) -> None:
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
            moved += reverse_with_overrides(
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
