"""The period close and statements (DOMAIN.md "Statements and payouts").

`statements_close` freezes a period and builds one statement per affiliate and currency:

1. approve the pending lines (CPA, prop fees, their overrides) whose hold ended in the period;
2. per-player NGR from the period's current revenue reports, under the plan assigned on each
   day in the version in force for the period, with that version's deductions and admin fee
   (one SQL GROUP BY per player, then per plan); revenue days the compliance gate refuses
   (self-exclusion, withdrawn licence, without an override) are summed apart in the same query
   and written as suppressed RevShare lines per player with the reason;
3. per affiliate and plan: carryover in (as the last restatement left it), tiers (whole/marginal,
   NGR band or FTD count), the RevShare line, carryover out; CPA tier adjustments by the count
   of CPAs approved for the period; sub-affiliate overrides on both;
4. statement lines: the approved ledger rows of the period grouped by kind and plan, each
   rounded once with the plan's rounding mode.

Everything is aggregated in PostgreSQL and streamed; Python only loops over groups (affiliate x
plan), never over revenue rows or trades. The close is idempotent: a period closes once.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from apps.affiliates.models import Affiliate
from apps.commissions import events, periods
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
    PeriodClose,
    Plan,
    PlanAssignment,
    PlanTier,
    Statement,
    StatementLine,
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
from apps.compliance.gates import REVSHARE_GATED_DAYS_SQL
from apps.compliance.models import ExclusionOverride
from apps.core.audit import audit_record
from apps.core.money import round_money
from apps.players.models import Player


class StatementError(ValueError):
    pass


# Per-player NGR of a period under the plan assigned on each report's day, split by the
# compliance gate into what earns and what is suppressed.
#
# Aggregate first, then join (PERFORMANCE.md): the revenue rows are summed per player, currency
# and assignment segment without any join, which PostgreSQL runs as a parallel scan with partial
# aggregates; only the (about one per player) sums are joined to players, plan assignments and
# plans. A segment is a stretch of the period between two plan-assignment boundaries
# (`%(bounds)s`, the valid_from / valid_to dates strictly inside the period, sorted):
# width_bucket() numbers it, and the assignment in force on its first day is in force on all of
# its days. Summing per row under a date-range join instead is not parallel and sorts 1M rows.
#
# The gate (apps.compliance.gates.REVSHARE_GATED_DAYS_SQL, `{gated}`): the few (player, day)
# pairs that earn nothing are looked up by their unique (player, date) key and their revenue is
# summed apart (`gated_segment`), then subtracted from the segment's total: what earns is the
# rest, what is suppressed is kept with its reason. The plan is the version of the assigned plan
# in force for the period (`%(plan_ids)s` -> `%(version_ids)s`, see plan_version_for_period).
PLAYER_NGR_SELECT = """
WITH per_segment AS (
    SELECT r.player_id, r.currency, width_bucket(r.date, %(bounds)s::date[]) AS segment,
           SUM(r.stakes - r.winnings) AS ggr,
           SUM(r.bonuses) AS bonuses, SUM(r.jackpot_contributions) AS jackpot, SUM(r.taxes) AS taxes,
           SUM(r.payment_fees) AS payment_fees, SUM(r.adjustments) AS adjustments
    FROM players_revenuereport r
    WHERE r.is_current AND r.date >= %(start)s AND r.date < %(end)s {report_filter}
    GROUP BY r.player_id, r.currency, segment
), gated_segment AS (
    SELECT r.player_id, r.currency, width_bucket(r.date, %(bounds)s::date[]) AS segment,
           SUM(r.stakes - r.winnings) AS ggr,
           SUM(r.bonuses) AS bonuses, SUM(r.jackpot_contributions) AS jackpot, SUM(r.taxes) AS taxes,
           SUM(r.payment_fees) AS payment_fees, SUM(r.adjustments) AS adjustments,
           string_agg(DISTINCT g.reason, '; ') AS reason, MIN(r.date) AS first_day, MAX(r.date) AS last_day
    FROM {gated} g
    JOIN players_revenuereport r ON r.player_id = g.player_id AND r.date = g.date AND r.is_current
    WHERE g.override_id IS NULL {report_filter}
    GROUP BY r.player_id, r.currency, segment
), split AS (
    SELECT s.player_id, s.currency, s.segment,
           s.ggr - COALESCE(x.ggr, 0) AS ggr, s.bonuses - COALESCE(x.bonuses, 0) AS bonuses,
           s.jackpot - COALESCE(x.jackpot, 0) AS jackpot, s.taxes - COALESCE(x.taxes, 0) AS taxes,
           s.payment_fees - COALESCE(x.payment_fees, 0) AS payment_fees,
           s.adjustments - COALESCE(x.adjustments, 0) AS adjustments,
           x.ggr AS x_ggr, x.bonuses AS x_bonuses, x.jackpot AS x_jackpot, x.taxes AS x_taxes,
           x.payment_fees AS x_payment_fees, x.adjustments AS x_adjustments,
           x.reason AS x_reason, x.first_day AS x_first_day, x.last_day AS x_last_day
    FROM per_segment s
    LEFT JOIN gated_segment x USING (player_id, currency, segment)
), per_player AS (
    SELECT p.affiliate_id, COALESCE(v.version_id, a.plan_id) AS plan_id, s.player_id, s.currency,
           SUM(s.ggr) AS ggr, SUM(s.bonuses) AS bonuses,
           SUM(s.jackpot) AS jackpot, SUM(s.taxes) AS taxes, SUM(s.payment_fees) AS payment_fees,
           SUM(s.adjustments) AS adjustments,
           COALESCE(SUM(s.x_ggr), 0) AS x_ggr, COALESCE(SUM(s.x_bonuses), 0) AS x_bonuses,
           COALESCE(SUM(s.x_jackpot), 0) AS x_jackpot, COALESCE(SUM(s.x_taxes), 0) AS x_taxes,
           COALESCE(SUM(s.x_payment_fees), 0) AS x_payment_fees,
           COALESCE(SUM(s.x_adjustments), 0) AS x_adjustments,
           string_agg(s.x_reason, '; ') AS x_reason, MIN(s.x_first_day) AS x_first_day,
           MAX(s.x_last_day) AS x_last_day
    FROM split s
    JOIN players_player p ON p.id = s.player_id
    CROSS JOIN LATERAL (
        SELECT CASE WHEN s.segment = 0 THEN %(start)s::date ELSE (%(bounds)s::date[])[s.segment] END AS first_day
    ) seg
    JOIN commissions_planassignment a
      ON a.affiliate_id = p.affiliate_id AND a.brand = p.brand
     AND a.valid_from <= seg.first_day AND (a.valid_to IS NULL OR seg.first_day < a.valid_to)
    LEFT JOIN unnest(%(plan_ids)s::bigint[], %(version_ids)s::bigint[]) AS v(plan_id, version_id)
      ON v.plan_id = a.plan_id
    WHERE true {player_filter}
    GROUP BY p.affiliate_id, COALESCE(v.version_id, a.plan_id), s.player_id, s.currency
), netted AS (
    SELECT pp.*, pl.admin_fee_percent,
           pp.ggr - (CASE WHEN pl.deduct_bonuses THEN pp.bonuses ELSE 0 END
                   + CASE WHEN pl.deduct_jackpot THEN pp.jackpot ELSE 0 END
                   + CASE WHEN pl.deduct_taxes THEN pp.taxes ELSE 0 END
                   + CASE WHEN pl.deduct_payment_fees THEN pp.payment_fees ELSE 0 END
                   + CASE WHEN pl.deduct_adjustments THEN pp.adjustments ELSE 0 END) AS net,
           pp.x_ggr - (CASE WHEN pl.deduct_bonuses THEN pp.x_bonuses ELSE 0 END
                   + CASE WHEN pl.deduct_jackpot THEN pp.x_jackpot ELSE 0 END
                   + CASE WHEN pl.deduct_taxes THEN pp.x_taxes ELSE 0 END
                   + CASE WHEN pl.deduct_payment_fees THEN pp.x_payment_fees ELSE 0 END
                   + CASE WHEN pl.deduct_adjustments THEN pp.x_adjustments ELSE 0 END) AS x_net
    FROM per_player pp JOIN commissions_plan pl ON pl.id = pp.plan_id
    WHERE pl.kind IN ('revshare', 'hybrid')
)
SELECT affiliate_id, plan_id, player_id, currency, ggr, ggr - net AS deductions,
       CASE WHEN net > 0 THEN ROUND(net * admin_fee_percent / 100, 8) ELSE 0 END AS admin_fee,
       net - CASE WHEN net > 0 THEN ROUND(net * admin_fee_percent / 100, 8) ELSE 0 END AS ngr,
       x_net - CASE WHEN x_net > 0 THEN ROUND(x_net * admin_fee_percent / 100, 8) ELSE 0 END AS suppressed_ngr,
       x_reason AS suppressed_reason, x_first_day AS suppressed_from, x_last_day AS suppressed_to
FROM netted
"""

# CREATE TABLE AS may run its SELECT in parallel (INSERT ... SELECT never does).
_PLAYER_NGR_SQL = "CREATE TEMP TABLE close_player_ngr ON COMMIT DROP AS" + PLAYER_NGR_SELECT.format(
    report_filter="", player_filter="", gated="close_gated_days"
)
_GATED_DAYS_SQL = (
    "CREATE TEMP TABLE close_gated_days ON COMMIT DROP AS"
    + REVSHARE_GATED_DAYS_SQL.format(player_filter="")
)


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


def _approve_past_hold(period: dt.date, end: dt.datetime) -> int:
    """Pending lines booked up to this period whose hold / refund window ended by its end, unless
    a live hold (a risk case) keeps them back: they wait for the close after its release."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE commissions_commissionentry e
               SET status = 'approved', statement_period = %(period)s, status_changed_at = now(),
                   status_reason = 'Approved at the close of ' || %(label)s
             WHERE status = 'pending' AND period <= %(period)s AND approve_after <= %(end)s
               AND (basis_id IS NULL OR kind <> 'override')
               AND NOT EXISTS (SELECT 1 FROM commissions_commissionhold h
                                WHERE h.entry_id = e.id AND h.released_at IS NULL)
            """,
            {"period": period, "end": end, "label": f"{period:%Y-%m}"},
        )
        approved = cursor.rowcount
        # Overrides follow the line they were computed from.
        cursor.execute(
            """
            UPDATE commissions_commissionentry o
               SET status = 'approved', statement_period = %(period)s, status_changed_at = now(),
                   status_reason = b.status_reason
              FROM commissions_commissionentry b
             WHERE o.basis_id = b.id AND o.kind = 'override' AND o.status = 'pending'
               AND b.status = 'approved' AND b.statement_period = %(period)s
            """,
            {"period": period},
        )
        return approved + cursor.rowcount


def _revshare_lines(period: dt.date, start: dt.datetime) -> list[dict]:
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
    with connection.cursor() as cursor:
        # The caller's transaction may already hold them (closing several periods in a row).
        cursor.execute("DROP TABLE IF EXISTS close_player_ngr, close_gated_days")
        cursor.execute(_GATED_DAYS_SQL, params)
        cursor.execute(_PLAYER_NGR_SQL, params)
        cursor.execute(
            """
            SELECT affiliate_id, plan_id, currency, SUM(ngr), COUNT(*) FROM close_player_ngr
            GROUP BY affiliate_id, plan_id, currency ORDER BY affiliate_id, plan_id, currency
            """
        )
        groups = cursor.fetchall()  # one row per affiliate x plan x currency: small
        # The gate's refusals: one row per player with suppressed revenue (few).
        cursor.execute(
            """
            SELECT affiliate_id, plan_id, currency, player_id, suppressed_ngr, suppressed_reason,
                   suppressed_from, suppressed_to
              FROM close_player_ngr WHERE suppressed_reason IS NOT NULL ORDER BY affiliate_id, plan_id, player_id
            """
        )
        suppressed = cursor.fetchall()
        cursor.execute(
            "SELECT DISTINCT override_id, player_id, date FROM close_gated_days WHERE override_id IS NOT NULL"
        )
        overrides_used = cursor.fetchall()
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


def _cpa_tier_adjustments(period: dt.date, start: dt.datetime) -> int:
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


def _build_statements(period: dt.date, summaries: list[dict]) -> int:
    """One statement per affiliate and currency carrying approved lines or a RevShare summary."""
    # One pass over the period's approved ledger rows: grouped per affiliate, currency, kind and
    # plan (a few rows per affiliate), which also tells which statements exist.
    grouped = list(
        CommissionEntry.objects.filter(statement_period=period, status=Status.APPROVED)
        .values("affiliate_id", "currency", "kind", "plan_id", "restates_period")
        .annotate(n=Count("id"), exact=Sum("amount"))
        .order_by("affiliate_id", "currency", "kind", "plan_id", "restates_period")
    )
    # Each line is rounded once; a statement's total is the sum of its rounded lines, known
    # before the statements are inserted (no UPDATE of a thousand rows afterwards).
    rounding = dict(Plan.objects.values_list("pk", "rounding_mode"))
    totals: dict[tuple[int, str], Decimal] = {
        (s["affiliate_id"], s["currency"]): ZERO for s in summaries
    }
    for row in grouped:
        key = (row["affiliate_id"], row["currency"])
        row["amount"] = round_money(
            row["exact"], row["currency"], rounding.get(row["plan_id"], "half_even")
        )
        totals[key] = totals.get(key, ZERO) + row["amount"]
    created = Statement.objects.bulk_create(
        [
            Statement(period=period, affiliate_id=a, currency=c, total=total)
            for (a, c), total in sorted(totals.items())
        ],
        batch_size=2000,
    )
    statements = {(s.affiliate_id, s.currency): s for s in created}
    StatementLine.objects.bulk_create(
        [
            StatementLine(
                statement=statements[(row["affiliate_id"], row["currency"])],
                kind=row["kind"],
                plan_id=row["plan_id"],
                restates_period=row["restates_period"],
                entry_count=row["n"],
                exact_amount=row["exact"],
                amount=row["amount"],
            )
            for row in grouped
        ],
        batch_size=2000,
    )
    summary_rows = []
    for s in summaries:
        result = s["result"]
        summary_rows.append(
            StatementRevshare(
                statement=statements[(s["affiliate_id"], s["currency"])],
                plan_id=s["plan_id"],
                player_count=s["players"],
                ftd_count=s["ftd_count"],
                ngr=ledger_amount(s["ngr"]),
                carry_in=s["carry_in"],
                base=result.base,
                carry_out=result.carry_out,
                commission=result.commission,
                entry=s["entry"],
            )
        )
    StatementRevshare.objects.bulk_create(summary_rows, batch_size=2000)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO commissions_statementplayerngr (statement_id, plan_id, player_id, ggr, deductions, admin_fee, ngr,
                                                        suppressed_ngr)
            SELECT s.id, n.plan_id, n.player_id, n.ggr, n.deductions, n.admin_fee, n.ngr, n.suppressed_ngr
              FROM close_player_ngr n
              JOIN commissions_statement s
                ON s.period = %s AND s.affiliate_id = n.affiliate_id AND s.currency = n.currency
            """,
            [period],
        )
        cursor.execute("DROP TABLE close_player_ngr, close_gated_days")
    return len(statements)


def statements_close(
    *, period: dt.date, acting_user=None, now: dt.datetime | None = None
) -> PeriodClose:
    """Close a period (idempotent: a closed period is returned as it is)."""
    if period.day != 1:
        raise StatementError("A period is the first day of a month.")
    start, end = periods.period_bounds(period)
    now = now or timezone.now()
    if end > now:
        raise StatementError(
            f"{period:%Y-%m} has not ended yet; it can be closed from {end.isoformat()}."
        )
    with transaction.atomic():
        periods.lock_period_exclusive(period)
        existing = PeriodClose.objects.filter(period=period).first()
        if existing is not None:
            return existing
        approved = _approve_past_hold(period, end)
        summaries = _revshare_lines(period, start)
        tier_adjustments = _cpa_tier_adjustments(period, start)
        count = _build_statements(period, summaries)
        close = PeriodClose.objects.create(
            period=period,
            closed_by=acting_user,
            summary={
                "statements": count,
                "approved_after_hold": approved,
                "revshare_groups": len(summaries),
                "cpa_tier_adjustments": tier_adjustments,
            },
        )
        audit_record(action="period.closed", instance=close, actor=acting_user, after=close.summary)
    return close


def statement_approve(*, statement: Statement, acting_user) -> Statement:
    """Approve a closed statement; from then on it never changes (audited)."""
    with transaction.atomic():
        locked = Statement.objects.select_for_update().get(pk=statement.pk)
        if locked.status == Statement.Status.APPROVED:
            raise StatementError(f"Statement #{locked.pk} is already approved.")
        locked.status, locked.approved_by, locked.approved_at = (
            Statement.Status.APPROVED,
            acting_user,
            timezone.now(),
        )
        locked.save(update_fields=["status", "approved_by", "approved_at"])
        audit_record(
            action="statement.approved",
            instance=locked,
            actor=acting_user,
            before={"status": "closed"},
            after={"status": "approved", "total": str(locked.total)},
        )
        events.statement_approved_publish(statement=locked)
    return locked


def statement_adjustments(statement: Statement):
    """Lines booked after a statement's period closed that restate it (late revenue, carryover
    passed on), wherever they were booked: what the statement was adjusted by."""
    return (
        CommissionEntry.objects.filter(
            restating(statement.period),
            affiliate_id=statement.affiliate_id,
            currency=statement.currency,
        )
        .filter(Q(kind=Kind.ADJUSTMENT) | Q(kind=Kind.REVSHARE, status=Status.SUPPRESSED))
        .order_by("period", "pk")
    )


def statement_entries(statement: Statement):
    """The ledger rows a statement carries (drill-down)."""
    return CommissionEntry.objects.filter(
        Q(
            statement_period=statement.period,
            affiliate_id=statement.affiliate_id,
            currency=statement.currency,
        ),
        status__in=[Status.APPROVED, Status.PAID],
    )
