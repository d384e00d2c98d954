"""Revenue restated after its month was closed (DOMAIN.md "Statements and payouts": statements
are immutable once approved; corrections are new lines in a later period; "Controls":
restatements book the difference at the terms of that month, and reach later closed months
whose carryover changes).

A closed period's RevShare was computed from the revenue reports current at the close, and the
close kept each player's NGR (`StatementPlayerNgr`: what earned and what the compliance gate
suppressed). When a report for a day of a closed period changes that player's NGR, the
affiliate's RevShare for the period is recomputed with the player's new NGR in place of the one
already accounted for (same carry in, same tiers, same FTD count, the plan version in force for
that period), and the difference is booked as an `adjustment` line in the first open period,
referencing the period (`restates_period`). Each adjustment keeps the state it leaves the period
in (NGR, commission, carry in and out), so a second restatement books only what changed since,
and the lines of a period add up to the RevShare of its current revenue.

The gate applies per revenue day as at the close: revenue of a day the player was self-excluded
(or the brand's licence withdrawn) earns nothing; a late report for such a day books a
suppressed RevShare line with the reason instead.

Carryover: under a `carry` plan, a restatement that changes the period's carry out changes the
carry in of the next closed period, and so on; each later closed month whose figures change gets
its own adjustment (same transaction, referencing that month), until a month's carry out is
unchanged or the open period is reached (whose close reads the restated carry).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.db.models import Q

from apps.affiliates.models import Affiliate
from apps.commissions import periods, sql
from apps.commissions.calculators import ZERO, ledger_amount, percent_of, revshare_with_carryover
from apps.commissions.models import (
    CommissionEntry,
    PeriodClose,
    Plan,
    PlanTier,
    StatementPlayerNgr,
    StatementRevshare,
)
from apps.commissions.services.close_lines import (
    assignment_bounds,
    plan_bands,
    plan_version_params,
    restating,
    revshare_effective_percent,
)
from apps.commissions.services.ledger import (
    Kind,
    Line,
    Status,
    entry_book,
    overrides_book,
    plan_for_period,
)
from apps.commissions.versions import plan_version_at
from apps.players.facts import RevenueReport
from apps.players.models import Player


@dataclass(frozen=True)
class PlayerNgr:
    """One player's NGR for a period under a plan: what earns and what the gate suppressed."""

    ngr: Decimal
    suppressed: Decimal = ZERO
    reason: str = ""


@dataclass(frozen=True)
class Accounted:
    """What the ledger has accounted for one affiliate x plan x currency x closed period so far:
    the close's figures, then those each later restatement left."""

    ngr: Decimal
    carry_in: Decimal
    commission: Decimal
    carry_out: Decimal
    ftd_count: int
    summary: StatementRevshare | None


def _player_ngr(*, period: dt.date, player_id: int, plan_id: int, currency: str) -> PlayerNgr:
    """The player's NGR for the period under the plan, from the reports current now (the same
    query the close runs, for one player, gated the same way)."""
    params = {
        "start": period,
        "end": periods.next_period(period),
        "bounds": assignment_bounds(period),
        "tz": periods.operator_zone().key,
        **plan_version_params(period),
        "player": player_id,
        "plan": plan_id,
        "currency": currency,
    }
    rows = sql.one_player_ngr_rows(params)
    # Columns: ..., ngr, suppressed_ngr, suppressed_reason, suppressed_from, suppressed_to
    return PlayerNgr(
        ngr=ledger_amount(sum((row[7] for row in rows), ZERO)),
        suppressed=ledger_amount(sum((row[8] for row in rows), ZERO)),
        reason="; ".join(row[9] for row in rows if row[9]),
    )


def accounted(*, affiliate_id: int, plan: Plan, currency: str, period: dt.date) -> Accounted:
    summary = (
        StatementRevshare.objects.filter(
            statement__period=period,
            statement__affiliate_id=affiliate_id,
            statement__currency=currency,
            plan=plan,
        )
        .select_related("entry")
        .first()
    )
    state = Accounted(
        ngr=summary.ngr if summary else ZERO,
        carry_in=summary.carry_in if summary else ZERO,
        commission=summary.commission if summary else ZERO,
        carry_out=summary.carry_out if summary else ZERO,
        ftd_count=summary.ftd_count if summary else 0,
        summary=summary,
    )
    latest = (
        CommissionEntry.objects.filter(
            restating(period),
            kind=Kind.ADJUSTMENT,
            affiliate_id=affiliate_id,
            plan=plan,
            currency=currency,
        )
        .order_by("-pk")
        .values_list("detail", flat=True)
        .first()
    )
    if latest is None:
        return state
    return Accounted(
        ngr=Decimal(latest["ngr"]),
        commission=Decimal(latest["commission"]),
        carry_in=Decimal(latest.get("carry_in", state.carry_in)),
        carry_out=Decimal(latest.get("carry_out", state.carry_out)),
        ftd_count=state.ftd_count,
        summary=summary,
    )


def _player_before(
    *, affiliate_id: int, plan: Plan, currency: str, period: dt.date, player_id: int
) -> PlayerNgr:
    """The player's NGR (earning and suppressed) the ledger accounted for so far."""
    snapshot = (
        StatementPlayerNgr.objects.filter(
            statement__period=period,
            statement__affiliate_id=affiliate_id,
            statement__currency=currency,
            plan=plan,
            player_id=player_id,
        )
        .values_list("ngr", "suppressed_ngr")
        .first()
    )
    ngr, suppressed = snapshot if snapshot is not None else (ZERO, ZERO)
    restated = (
        CommissionEntry.objects.filter(
            restating(period),
            affiliate_id=affiliate_id,
            plan=plan,
            currency=currency,
            player_id=player_id,
        )
        .filter(Q(kind=Kind.ADJUSTMENT) | Q(kind=Kind.REVSHARE, status=Status.SUPPRESSED))
        .order_by("pk")
        .values_list("kind", "detail")
    )
    for kind, detail in restated:
        if kind == Kind.ADJUSTMENT and "player_ngr" in detail:
            ngr = Decimal(detail["player_ngr"])
        elif kind == Kind.REVSHARE and "player_suppressed_ngr" in detail:
            suppressed = Decimal(detail["player_suppressed_ngr"])
    return PlayerNgr(ngr=ngr, suppressed=suppressed)


def _recompute(plan: Plan, *, ngr: Decimal, carry_in: Decimal, ftd_count: int):
    return revshare_with_carryover(
        ngr,
        carry_in=carry_in,
        carryover=plan.carryover,
        bands=plan_bands(plan, PlanTier.AppliesTo.REVSHARE),
        default_percent=plan.revshare_percent,
        mode=plan.revshare_tier_mode,
        measure=Decimal(ftd_count)
        if plan.revshare_tier_basis == Plan.TierBasis.FTD_COUNT
        else None,
    )


def _status(affiliate: Affiliate) -> tuple[str, str]:
    if affiliate.status != Affiliate.Status.ACTIVE:
        return Status.SUPPRESSED, "Affiliate suspended"
    return Status.APPROVED, ""


def _book(
    line: Line, *, brand: str, source_event_id: int | None = None, key: str | None = None
) -> CommissionEntry:
    entry, created = entry_book(
        line=line, source_event_id=None if key else source_event_id, idempotency_key=key
    )
    if created and entry.amount != 0 and line.affiliate.parent_id is not None:
        overrides_book(
            lines=[entry],
            brand=brand,
            source_event_id=None if key else source_event_id,
            key_prefix=key,
        )
    return entry


def revshare_restatement_book(
    *, report: RevenueReport, source_event_id: int
) -> CommissionEntry | None:
    """Book the RevShare difference a revenue report for a closed period makes, and the
    carryover it passes on to later closed periods (None when the period is open, the plan pays
    no RevShare, or nothing changes)."""
    period = report.date.replace(day=1)
    player = report.player
    if player.affiliate_id is None or not PeriodClose.objects.filter(period=period).exists():
        return None
    plan = plan_for_period(affiliate_id=player.affiliate_id, brand=player.brand, day=report.date)
    if plan is None or not plan.pays_revshare:
        return None
    return _restate(
        player=player,
        plan=plan,
        period=period,
        currency=report.currency,
        occurred_at=report.occurred_at,
        source_event_id=source_event_id,
        key=None,
        cause={"report": report.pk},
        late=f"late report for {report.date:%Y-%m-%d}",
    )


def revshare_restate_on_exclusion(
    *,
    player: Player,
    starts_at: dt.datetime,
    source_event_id: int,
) -> list[CommissionEntry]:
    """A self-exclusion that arrives after months it covers were closed: each closed month from
    its start in which the player had NGR is restated, so the days it covers earn nothing there
    either (what they had earned is taken back as an adjustment; the suppressed part is shown)."""
    booked = []
    snapshots = (
        StatementPlayerNgr.objects.filter(
            player=player, statement__period__gte=periods.period_of(starts_at)
        )
        .values_list("statement__period", "plan_id", "statement__currency")
        .distinct()
        .order_by("statement__period")
    )
    plans = {}
    for period, plan_id, currency in snapshots:
        plan = plans.get(plan_id) or Plan.objects.get(pk=plan_id)
        plans[plan_id] = plan
        entry = _restate(
            player=player,
            plan=plan,
            period=period,
            currency=currency,
            occurred_at=starts_at,
            source_event_id=None,
            key=f"exclusion:{source_event_id}:{period:%Y-%m}:{plan_id}:{currency}",
            cause={"self_exclusion_event": source_event_id},
            late="self-exclusion reported late",
        )
        if entry is not None:
            booked.append(entry)
    return booked


def _restate(
    *,
    player,
    plan: Plan,
    period: dt.date,
    currency: str,
    occurred_at: dt.datetime,
    source_event_id: int | None,
    key: str | None,
    cause: dict,
    late: str,
) -> CommissionEntry | None:
    """Restate one player's NGR in one closed period under one plan version (see module doc)."""
    label = f"{period:%Y-%m}"
    with transaction.atomic():
        # One restatement of an affiliate's closed period at a time: each starts from what the
        # previous ones accounted for.
        affiliate = Affiliate.objects.select_for_update(no_key=True).get(pk=player.affiliate_id)
        group = {"affiliate_id": affiliate.pk, "plan": plan, "currency": currency, "period": period}
        state = accounted(**group)
        before = _player_before(**group, player_id=player.pk)
        now = _player_ngr(period=period, player_id=player.pk, plan_id=plan.pk, currency=currency)
        booked = None
        if now.suppressed > before.suppressed:
            booked = _book_suppressed(
                player=player,
                period=period,
                currency=currency,
                occurred_at=occurred_at,
                plan=plan,
                affiliate=affiliate,
                state=state,
                before=before,
                now=now,
                source_event_id=source_event_id,
                key=f"{key}:suppressed" if key else None,
                cause=cause,
                late=late,
            )
        if now.ngr == before.ngr:
            return booked
        ngr_after = state.ngr + now.ngr - before.ngr
        result = _recompute(plan, ngr=ngr_after, carry_in=state.carry_in, ftd_count=state.ftd_count)
        status, reason = _status(affiliate)
        line = Line(
            kind=Kind.ADJUSTMENT,
            affiliate=affiliate,
            player=player,
            plan=plan,
            amount=result.commission - state.commission,
            currency=currency,
            occurred_at=occurred_at,
            status=status,
            status_reason=reason,
            quantity=ngr_after,
            rate=plan.revshare_percent,
            reverses=state.summary.entry if state.summary else None,
            restates_period=period,
            detail={
                "restates": label,
                **cause,
                "player_ngr_before": str(before.ngr),
                "player_ngr": str(now.ngr),
                "ngr_before": str(state.ngr),
                "ngr": str(ngr_after),
                "commission_before": str(state.commission),
                "commission": str(result.commission),
                "carry_in": str(state.carry_in),
                "carry_out": str(result.carry_out),
            },
        )
        entry = _book(line, brand=player.brand, source_event_id=source_event_id, key=key)
        if result.carry_out != state.carry_out:
            _carry_forward(
                affiliate=affiliate,
                plan=plan,
                currency=currency,
                period=period,
                carry=result.carry_out,
                brand=player.brand,
                key_prefix=key or f"restatement:{source_event_id}",
                occurred_at=occurred_at,
            )
        return entry


def _book_suppressed(
    *,
    player,
    period: dt.date,
    currency: str,
    occurred_at: dt.datetime,
    plan: Plan,
    affiliate: Affiliate,
    state: Accounted,
    before: PlayerNgr,
    now: PlayerNgr,
    source_event_id: int | None,
    key: str | None,
    cause: dict,
    late: str,
) -> CommissionEntry:
    """Revenue of a gated day reached a closed period late: what it would have earned,
    suppressed with the reason."""
    delta = now.suppressed - before.suppressed
    measure = (
        Decimal(state.ftd_count) if plan.revshare_tier_basis == Plan.TierBasis.FTD_COUNT else None
    )
    rate = revshare_effective_percent(plan, base=state.ngr + state.carry_in, measure=measure)
    line = Line(
        kind=Kind.REVSHARE,
        affiliate=affiliate,
        player=player,
        plan=plan,
        amount=percent_of(delta, rate),
        currency=currency,
        occurred_at=occurred_at,
        status=Status.SUPPRESSED,
        status_reason=f"{now.reason or 'Compliance gate'} ({late})",
        quantity=delta,
        rate=rate,
        restates_period=period,
        detail={
            "restates": f"{period:%Y-%m}",
            **cause,
            "player_suppressed_ngr_before": str(before.suppressed),
            "player_suppressed_ngr": str(now.suppressed),
        },
    )
    return _book(line, brand=player.brand, source_event_id=source_event_id, key=key)


def _carry_forward(
    *,
    affiliate: Affiliate,
    plan: Plan,
    currency: str,
    period: dt.date,
    carry: Decimal,
    brand: str,
    key_prefix: str,
    occurred_at: dt.datetime,
) -> list[CommissionEntry]:
    """The closed periods after `period` whose carry in changes: each one's RevShare again with
    the new carry in, the difference booked in the open period referencing that month."""
    booked = []
    month = periods.next_period(period)
    while PeriodClose.objects.filter(period=month).exists():
        version = plan_version_at(plan, month)
        state = accounted(affiliate_id=affiliate.pk, plan=version, currency=currency, period=month)
        if version.carryover != Plan.Carryover.CARRY or carry == state.carry_in:
            break
        result = _recompute(version, ngr=state.ngr, carry_in=carry, ftd_count=state.ftd_count)
        status, reason = _status(affiliate)
        line = Line(
            kind=Kind.ADJUSTMENT,
            affiliate=affiliate,
            plan=version,
            amount=result.commission - state.commission,
            currency=currency,
            occurred_at=occurred_at,
            status=status,
            status_reason=reason,
            quantity=result.base,
            rate=version.revshare_percent,
            restates_period=month,
            reverses=state.summary.entry if state.summary else None,
            detail={
                "restates": f"{month:%Y-%m}",
                "carried_from": f"{period:%Y-%m}",
                "ngr": str(state.ngr),
                "commission_before": str(state.commission),
                "commission": str(result.commission),
                "carry_in_before": str(state.carry_in),
                "carry_in": str(carry),
                "carry_out": str(result.carry_out),
            },
        )
        key = f"{key_prefix}:{affiliate.pk}:{version.pk}:{currency}:{month:%Y-%m}"
        booked.append(_book(line, brand=brand, key=key))
        if result.carry_out == state.carry_out:
            break
        carry, period, month = result.carry_out, month, periods.next_period(month)
    return booked
