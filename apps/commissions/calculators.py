"""Pure commission arithmetic (DOMAIN.md "Commission plans"). Decimal in, Decimal out; no I/O.

Everything that decides an amount lives here so the worked examples can be checked directly
and the services, handlers and the period close share one implementation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from apps.core.money import LEDGER_DECIMAL_PLACES, MoneyError

ZERO = Decimal(0)
HUNDRED = Decimal(100)
_LEDGER_QUANTUM = Decimal(1).scaleb(-LEDGER_DECIMAL_PLACES)


def ledger_amount(value: Decimal) -> Decimal:
    """Quantize to ledger precision (8 places). Not the statement rounding: that happens once."""
    if not isinstance(value, Decimal):
        raise MoneyError(f"Ledger amounts must be Decimal, got {type(value).__name__}.")
    return value.quantize(_LEDGER_QUANTUM, rounding=ROUND_HALF_EVEN)


def percent_of(amount: Decimal, percent: Decimal) -> Decimal:
    return ledger_amount(amount * percent / HUNDRED)


@dataclass(frozen=True)
class NgrParts:
    """One player's (or a sum of players') revenue figures for a period."""

    stakes: Decimal = ZERO
    winnings: Decimal = ZERO
    bonuses: Decimal = ZERO
    jackpot_contributions: Decimal = ZERO
    taxes: Decimal = ZERO
    payment_fees: Decimal = ZERO
    chargebacks: Decimal = ZERO
    adjustments: Decimal = ZERO


@dataclass(frozen=True)
class NgrDeductions:
    """Which deductions a plan applies, and its admin fee (mirrors the Plan fields)."""

    bonuses: bool = True
    jackpot: bool = True
    taxes: bool = True
    payment_fees: bool = True
    chargebacks: bool = True
    adjustments: bool = True
    admin_fee_percent: Decimal = ZERO

    @classmethod
    def of_plan(cls, plan) -> NgrDeductions:
        return cls(
            bonuses=plan.deduct_bonuses,
            jackpot=plan.deduct_jackpot,
            taxes=plan.deduct_taxes,
            payment_fees=plan.deduct_payment_fees,
            chargebacks=plan.deduct_chargebacks,
            adjustments=plan.deduct_adjustments,
            admin_fee_percent=plan.admin_fee_percent,
        )


@dataclass(frozen=True)
class NgrResult:
    ggr: Decimal
    deductions: Decimal
    admin_fee: Decimal
    ngr: Decimal


def ngr(parts: NgrParts, rules: NgrDeductions) -> NgrResult:
    """GGR = stakes - winnings; NGR = GGR - the plan's deductions, minus the admin fee %.

    The admin fee is taken from a positive net only: a losing period is not made worse by a fee
    on revenue that does not exist.
    """
    ggr = parts.stakes - parts.winnings
    deductions = (
        (parts.bonuses if rules.bonuses else ZERO)
        + (parts.jackpot_contributions if rules.jackpot else ZERO)
        + (parts.taxes if rules.taxes else ZERO)
        + (parts.payment_fees if rules.payment_fees else ZERO)
        + (parts.chargebacks if rules.chargebacks else ZERO)
        + (parts.adjustments if rules.adjustments else ZERO)
    )
    net = ggr - deductions
    fee = percent_of(net, rules.admin_fee_percent) if net > 0 else ZERO
    return NgrResult(ggr=ggr, deductions=deductions, admin_fee=fee, ngr=ledger_amount(net - fee))


@dataclass(frozen=True)
class Band:
    """A tier band: from `threshold` (inclusive) up, `percent` applies."""

    threshold: Decimal
    percent: Decimal


def _sorted(bands: Sequence[Band]) -> list[Band]:
    return sorted(bands, key=lambda band: band.threshold)


def band_percent(bands: Sequence[Band], measure: Decimal, default: Decimal) -> Decimal:
    """The percent of the highest band whose threshold `measure` reaches (whole tiering)."""
    chosen = default
    for band in _sorted(bands):
        if measure >= band.threshold:
            chosen = band.percent
    return chosen


def tiered_commission(
    base: Decimal,
    *,
    bands: Sequence[Band],
    default_percent: Decimal,
    mode: str,
    measure: Decimal | None = None,
) -> Decimal:
    """Commission on a non-negative `base`.

    whole: one rate, chosen by `measure` (the base itself, or an FTD count), applies to all.
    marginal: each slice of the base between consecutive thresholds earns its band's rate.
    Without bands the plan's flat `default_percent` applies.
    NGR 20,000, 25% up to 7,500 then 30%: whole 6,000, marginal 5,625.
    """
    if base <= 0:
        return ZERO
    bands = _sorted(bands)
    if not bands:
        return percent_of(base, default_percent)
    if mode == "whole":
        rate = band_percent(bands, base if measure is None else measure, default_percent)
        return percent_of(base, rate)
    total = ZERO
    for index, band in enumerate(bands):
        upper = bands[index + 1].threshold if index + 1 < len(bands) else None
        if base <= band.threshold:
            break
        top = base if upper is None else min(base, upper)
        total += (top - band.threshold) * band.percent / HUNDRED
    # Below the first threshold the default rate applies (first threshold is usually 0).
    if bands[0].threshold > 0:
        total += min(base, bands[0].threshold) * default_percent / HUNDRED
    return ledger_amount(total)


@dataclass(frozen=True)
class RevshareResult:
    base: Decimal
    commission: Decimal
    carry_out: Decimal


def revshare_with_carryover(
    ngr_total: Decimal,
    *,
    carry_in: Decimal,
    carryover: str,
    bands: Sequence[Band],
    default_percent: Decimal,
    mode: str,
    measure: Decimal | None = None,
) -> RevshareResult:
    """Apply negative carryover, then the tiers.

    carry: a negative period offsets later ones until recovered (carry_out <= 0).
    reset: each period starts clean (carry_in ignored, carry_out 0).
    M1 -2,000 then M2 +5,000 at 30%: carry -> M2 900; reset -> M2 1,500; M1 pays 0 either way.
    """
    if carry_in > 0:
        raise MoneyError("A carryover is never positive.")
    base = ngr_total + (carry_in if carryover == "carry" else ZERO)
    if base <= 0:
        return RevshareResult(
            base=base, commission=ZERO, carry_out=base if carryover == "carry" else ZERO
        )
    commission = tiered_commission(
        base, bands=bands, default_percent=default_percent, mode=mode, measure=measure
    )
    return RevshareResult(base=base, commission=commission, carry_out=ZERO)


def cpa_tier_total(count: int, *, amount: Decimal, bands: Sequence[Band], mode: str) -> Decimal:
    """What `count` qualified CPAs in a period earn with CPA tiers (percent of the CPA amount).

    whole: all at the rate of the band the count reaches; marginal: the n-th CPA at the rate of
    the band n falls in. Without bands: count x amount.
    """
    if count <= 0:
        return ZERO
    bands = _sorted(bands)
    if not bands:
        return ledger_amount(amount * count)
    if mode == "whole":
        return ledger_amount(
            amount * count * band_percent(bands, Decimal(count), HUNDRED) / HUNDRED
        )
    total = ZERO
    for n in range(1, count + 1):
        total += amount * band_percent(bands, Decimal(n), HUNDRED) / HUNDRED
    return ledger_amount(total)


def cpa_tier_due(amounts: Sequence[Decimal], *, bands: Sequence[Band], mode: str) -> Decimal:
    """`cpa_tier_total` for CPA lines booked at their own amounts (a plan version may change the
    amount mid-period): whole, every line at the percent of the band the count reaches; marginal,
    the n-th line (in qualification order) at the percent of the band n falls in."""
    count = len(amounts)
    if count == 0:
        return ZERO
    bands = _sorted(bands)
    if not bands:
        return ledger_amount(sum(amounts, ZERO))
    if mode == "whole":
        return ledger_amount(
            sum(amounts, ZERO) * band_percent(bands, Decimal(count), HUNDRED) / HUNDRED
        )
    return ledger_amount(
        sum(
            (
                amount * band_percent(bands, Decimal(n), HUNDRED) / HUNDRED
                for n, amount in enumerate(amounts, start=1)
            ),
            ZERO,
        )
    )


def lot_rebate(lots: Decimal, rate: Decimal) -> Decimal:
    return ledger_amount(lots * rate)


def spread_share(
    *, spread: Decimal, contract_size: Decimal, lots: Decimal, percent: Decimal
) -> Decimal:
    """% of spread revenue: spread (price units) x contract size x lots x %."""
    return percent_of(spread * contract_size * lots, percent)


def override_amount(amount: Decimal, percent: Decimal) -> Decimal:
    """A parent's override: `percent` of its sub-affiliate's commission (operator-funded)."""
    return percent_of(amount, percent)
