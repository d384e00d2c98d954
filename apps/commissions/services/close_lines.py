"""The lines the period close books before its statements (`statements.py`): RevShare per
(affiliate, plan, currency) with the compliance gate's suppressed lines, and CPA tier
adjustments; and the period helpers restatements share."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db.models import Count, Q

from apps.affiliates.models import Affiliate
from apps.commissions import periods, sql
from apps.commissions.calculators import (
    ZERO,
    Band,
    band_percent,
    cpa_tier_due,
    ledger_amount,
    percent_of,
    revshare_with_carryover,
)
from apps.commissions.models import (
    CommissionEntry,
    Plan,
    PlanAssignment,
    PlanTier,
    StatementRevshare,
)
from apps.commissions.services.ledger import (
    Kind,
    Line,
    Status,
    entry_book,
    entry_build,
    overrides_book,
)
from apps.commissions.versions import plan_versions_for_period
from apps.compliance.models import ExclusionOverride
from apps.core.audit import audit_record
from apps.players.models import Player


def plan_version_params(period: dt.date) -> dict:
    """Plan versions in force for a period, as the SQL's (plan_ids -> version_ids) map."""
    versions = plan_versions_for_period(period)
    return {"plan_ids": list(versions), "version_ids": list(versions.values())}


def restating(period: dt.date) -> Q:
    """Ledger lines that restate a closed period (lines written before `restates_period` existed
    name the period in their detail only)."""
    return Q(restates_period=period) | Q(
        restates_period__isnull=True, detail__restates=f"{period:%Y-%m}"
    )


def restated_carries(period: dt.date) -> dict[tuple[int, int, str], Decimal]:
    """(affiliate, plan, currency) -> the carry out restatements left a closed period with (the
    next close starts from it instead of the statement's)."""
    carries: dict[tuple[int, int, str], Decimal] = {}
    rows = (
        CommissionEntry.objects.filter(
            restating(period), kind=Kind.ADJUSTMENT, detail__has_key="carry_out"
        )
        .order_by("pk")
        .values_list("affiliate_id", "plan_id", "currency", "detail")
    )
    for affiliate_id, plan_id, currency, detail in rows:
        carries[(affiliate_id, plan_id, currency)] = Decimal(detail["carry_out"])
    return carries


def assignment_bounds(period: dt.date) -> list[dt.date]:
    """The plan-assignment start and end dates strictly inside a period, sorted."""
    start, end = period, periods.next_period(period)
    assignments = PlanAssignment.objects.order_by()
    dates = set(
        assignments.filter(valid_from__gt=start, valid_from__lt=end).values_list(
            "valid_from", flat=True
        )
    )
    dates |= set(
        assignments.filter(valid_to__gt=start, valid_to__lt=end).values_list("valid_to", flat=True)
    )
    return sorted(dates)


def plan_bands(plan: Plan, applies_to: str) -> list[Band]:
    return [
        Band(threshold=t.threshold, percent=t.percent)
        for t in plan.tiers.all()
        if t.applies_to == applies_to
    ]


def close_revshare_lines(period: dt.date, start: dt.datetime) -> list[dict]:
    """Compute and book the RevShare of every (affiliate, plan, currency) with revenue in the
    period, or a carryover to keep. Returns the summaries to attach to statements."""
    start_date, end_date = period, periods.next_period(period)
    summaries: list[dict] = []
    params = {
        "start": start_date,
        "end": end_date,
        "bounds": assignment_bounds(period),
        "tz": periods.operator_zone().key,
        **plan_version_params(period),
    }
    groups, suppressed, overrides_used = sql.close_player_ngr(params)
    # Carryovers from the previous period with no revenue this period are carried on too.
    # Earlier periods may have been priced by an earlier version of the same plan.
    versions = dict(zip(params["plan_ids"], params["version_ids"], strict=True))
    previous = periods.previous_period(period)
    carries = {
        (a, versions.get(p, p), c): carry
        for a, p, c, carry in StatementRevshare.objects.filter(statement__period=previous)
        .values_list("statement__affiliate_id", "plan_id", "statement__currency", "carry_out")
        .order_by()
    }
    carries.update(
        {
            (a, versions.get(p, p), c): carry
            for (a, p, c), carry in restated_carries(previous).items()
        }
    )
    seen = {(a, p, c) for a, p, c, _, _ in groups}
    for carried, carry in sorted(carries.items()):
        if carry < 0 and carried not in seen:
            groups.append((*carried, ZERO, 0))
            seen.add(carried)
    plans = {
        plan.pk: plan
        for plan in Plan.objects.filter(pk__in={g[1] for g in groups}).prefetch_related("tiers")
    }
    affiliates = Affiliate.objects.in_bulk({g[0] for g in groups})
    # One query each for every group's carryover in and qualified-FTD count (no per-group queries).
    ftd_counts: dict[tuple[int, int], int] = {}
    for a, p, n in (
        CommissionEntry.objects.filter(
            kind=Kind.CPA, period=period, status__in=[Status.PENDING, Status.APPROVED, Status.PAID]
        )
        .values("affiliate_id", "plan_id")
        .annotate(n=Count("id"))
        .values_list("affiliate_id", "plan_id", "n")
        .order_by()
    ):
        key = (a, versions.get(p, p))
        ftd_counts[key] = ftd_counts.get(key, 0) + n
    brands = {
        (a, versions.get(p, p)): b
        for a, p, b in PlanAssignment.objects.values_list(
            "affiliate_id", "plan_id", "brand"
        ).order_by()
        if versions.get(p, p) in plans
    }
    to_insert: list[CommissionEntry] = []
    for affiliate_id, plan_id, currency, ngr_total, players in groups:
        plan, affiliate = plans[plan_id], affiliates[affiliate_id]
        carry_in = carries.get((affiliate_id, plan_id, currency), ZERO)
        ftd_count = ftd_counts.get((affiliate_id, plan_id), 0)
        measure = (
            Decimal(ftd_count) if plan.revshare_tier_basis == Plan.TierBasis.FTD_COUNT else None
        )
        result = revshare_with_carryover(
            ledger_amount(ngr_total),
            carry_in=carry_in,
            carryover=plan.carryover,
            bands=plan_bands(plan, PlanTier.AppliesTo.REVSHARE),
            default_percent=plan.revshare_percent,
            mode=plan.revshare_tier_mode,
            measure=measure,
        )
        entry = None
        if result.commission > 0:
            status, reason = Status.APPROVED, ""
            if affiliate.status != Affiliate.Status.ACTIVE:
                status, reason = Status.SUPPRESSED, "Affiliate suspended"
            # The period is being closed under an exclusive lock and nothing of this close
            # exists yet (a close commits whole or not at all), so the rows are inserted in bulk.
            entry = entry_build(
                line=Line(
                    kind=Kind.REVSHARE,
                    affiliate=affiliate,
                    plan=plan,
                    amount=result.commission,
                    currency=currency,
                    occurred_at=start,
                    status=status,
                    status_reason=reason,
                    quantity=result.base,
                    rate=plan.revshare_percent,
                    detail={"ngr": str(ngr_total), "carry_in": str(carry_in), "players": players},
                ),
                source_event_id=None,
                idempotency_key=f"close:{period:%Y-%m}:revshare:{affiliate_id}:{plan_id}:{currency}",
                period=period,
            )
            to_insert.append(entry)
        summaries.append(
            {
                "affiliate_id": affiliate_id,
                "plan_id": plan_id,
                "currency": currency,
                "ngr": ngr_total,
                "players": players,
                "ftd_count": ftd_count,
                "carry_in": carry_in,
                "result": result,
                "entry": entry,
            }
        )
    rates = {
        (s["affiliate_id"], s["plan_id"], s["currency"]): (s["result"], s["ftd_count"])
        for s in summaries
    }
    suppressed_lines = _revshare_suppressed_lines(
        period, start, suppressed, plans=plans, affiliates=affiliates, results=rates
    )
    CommissionEntry.objects.bulk_create(to_insert + suppressed_lines, batch_size=2000)
    for entry in to_insert + suppressed_lines:
        if entry.affiliate.parent_id is not None:
            overrides_book(
                lines=[entry],
                brand=brands.get((entry.affiliate_id, entry.plan_id), ""),
                key_prefix=f"close:{period:%Y-%m}:revshare:{entry.pk}",
            )
    _audit_overrides_used(overrides_used)
    return summaries


def revshare_effective_percent(plan: Plan, *, base: Decimal, measure: Decimal | None) -> Decimal:
    """The rate the plan pays on the last unit of `base` (whole: the band reached; marginal: the
    band the top of the base falls in). Suppressed RevShare is priced at it: what the gated NGR
    would have earned on top of what was paid."""
    bands = plan_bands(plan, PlanTier.AppliesTo.REVSHARE)
    if not bands:
        return plan.revshare_percent
    if plan.revshare_tier_mode == Plan.TierMode.WHOLE:
        return band_percent(bands, base if measure is None else measure, plan.revshare_percent)
    return band_percent(bands, max(base, ZERO), plan.revshare_percent)


def _revshare_suppressed_lines(
    period: dt.date,
    start: dt.datetime,
    rows,
    *,
    plans: dict,
    affiliates: dict,
    results: dict,
) -> list[CommissionEntry]:
    """One suppressed RevShare line per player whose revenue the gate refused for some days:
    the suppressed NGR at the rate the group was paid at, with the reason (paid to no one)."""
    missing = {a for a, *_ in rows} - set(affiliates)
    affiliates = {**affiliates, **Affiliate.objects.in_bulk(missing)} if missing else affiliates
    missing_plans = {p for _, p, *_ in rows} - set(plans)
    if missing_plans:
        plans = {**plans, **Plan.objects.in_bulk(missing_plans)}
    player_ids = {row[3] for row in rows}
    players = Player.objects.in_bulk(player_ids) if player_ids else {}
    lines = []
    for affiliate_id, plan_id, currency, player_id, ngr, reason, first_day, last_day in rows:
        ngr = ledger_amount(ngr)
        if ngr <= 0:
            continue  # a loss on gated days is not counted either way
        plan = plans[plan_id]
        result, ftd_count = results.get((affiliate_id, plan_id, currency), (None, 0))
        measure = (
            Decimal(ftd_count) if plan.revshare_tier_basis == Plan.TierBasis.FTD_COUNT else None
        )
        rate = revshare_effective_percent(
            plan, base=result.base if result else ngr, measure=measure
        )
        detail = {
            "suppressed_ngr": str(ngr),
            "days": f"{first_day.isoformat()}..{last_day.isoformat()}",
        }
        lines.append(
            entry_build(
                line=Line(
                    kind=Kind.REVSHARE,
                    affiliate=affiliates[affiliate_id],
                    plan=plan,
                    player=players[player_id],
                    amount=percent_of(ngr, rate),
                    currency=currency,
                    occurred_at=start,
                    status=Status.SUPPRESSED,
                    status_reason=f"{reason} ({first_day:%Y-%m-%d} to {last_day:%Y-%m-%d})",
                    quantity=ngr,
                    rate=rate,
                    detail=detail,
                ),
                source_event_id=None,
                idempotency_key=f"close:{period:%Y-%m}:revshare_suppressed:{affiliate_id}:{plan_id}:{currency}:{player_id}",
                period=period,
            )
        )
    return lines


def _audit_overrides_used(rows) -> None:
    """Each exclusion override the close's gate applied is audited, as the real-time gate does."""
    overrides = ExclusionOverride.objects.in_bulk({row[0] for row in rows}) if rows else {}
    for override_id, player_id, day in rows:
        override = overrides[override_id]
        audit_record(
            action="exclusion_override.used",
            instance=override,
            actor_label="period close",
            after={"purpose": "revshare", "at": day.isoformat(), "player_id": player_id},
            reason=override.reason,
        )


def close_cpa_tier_adjustments(period: dt.date, start: dt.datetime) -> int:
    """CPA tiers by the count of approved CPAs the period's statement carries (a CPA still in its
    hold, failed or suppressed does not count), at the tiers of the plan version in force for
    the period. The adjustment is what the count's tier pays minus what the lines booked."""
    versions = plan_versions_for_period(period)
    tiered = {
        plan.pk: plan
        for plan in Plan.objects.filter(tiers__applies_to=PlanTier.AppliesTo.CPA)
        .distinct()
        .prefetch_related("tiers")
    }
    if not tiered:
        return 0
    family_ids = [pk for pk, version in versions.items() if version in tiered] + list(tiered)
    rows = (
        CommissionEntry.objects.filter(
            kind=Kind.CPA,
            statement_period=period,
            plan_id__in=family_ids,
            status__in=[Status.APPROVED, Status.PAID],
        )
        .values_list("affiliate_id", "plan_id", "currency", "amount")
        .order_by("affiliate_id", "occurred_at", "pk")
    )
    groups: dict[tuple[int, int, str], list[Decimal]] = {}
    for affiliate_id, plan_id, currency, amount in rows.iterator():
        version = versions.get(plan_id, plan_id)
        if version in tiered:
            groups.setdefault((affiliate_id, version, currency), []).append(amount)
    affiliates = Affiliate.objects.in_bulk({a for a, _, _ in groups})
    booked = 0
    for (affiliate_id, plan_id, currency), amounts in sorted(groups.items()):
        plan = tiered[plan_id]
        due = cpa_tier_due(
            amounts, bands=plan_bands(plan, PlanTier.AppliesTo.CPA), mode=plan.cpa_tier_mode
        )
        adjustment = due - sum(amounts, ZERO)
        if adjustment == 0:
            continue
        entry_book(
            line=Line(
                kind=Kind.TIER_ADJUSTMENT,
                affiliate=affiliates[affiliate_id],
                plan=plan,
                amount=adjustment,
                currency=currency,
                occurred_at=start,
                status=Status.APPROVED,
                quantity=Decimal(len(amounts)),
                detail={"qualified": len(amounts), "due": str(due)},
            ),
            idempotency_key=f"close:{period:%Y-%m}:cpa_tier:{affiliate_id}:{plan_id}:{currency}",
            period=period,
        )
        booked += 1
    return booked
