"""The period close and statements (DOMAIN.md "Statements and payouts").

`statements_close` freezes a period and builds one statement per affiliate and currency:

1. approve the pending lines (CPA, prop fees, their overrides) whose hold ended in the period;
2. per-player NGR from the period's current revenue reports, under the plan in force on each
   day, with that plan's deductions and admin fee (one SQL GROUP BY per player, then per plan);
3. per affiliate and plan: carryover in, tiers (whole/marginal, NGR band or FTD count), the
   RevShare line, carryover out; CPA tier adjustments; sub-affiliate overrides on both;
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
    cpa_tier_total,
    ledger_amount,
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
from apps.core.audit import audit_record
from apps.core.money import round_money


class StatementError(ValueError):
    pass


# Per-player NGR of a period under the plan assigned on each report's day.
#
# Aggregate first, then join (PERFORMANCE.md): the revenue rows are summed per player, currency
# and assignment segment without any join, which PostgreSQL runs as a parallel scan with partial
# aggregates; only the (about one per player) sums are joined to players, plan assignments and
# plans. A segment is a stretch of the period between two plan-assignment boundaries
# (`%(bounds)s`, the valid_from / valid_to dates strictly inside the period, sorted):
# width_bucket() numbers it, and the assignment in force on its first day is in force on all of
# its days. Summing per row under a date-range join instead is not parallel and sorts 1M rows.
PLAYER_NGR_SELECT = """
WITH per_segment AS (
    SELECT r.player_id, r.currency, width_bucket(r.date, %(bounds)s::date[]) AS segment,
           SUM(r.stakes - r.winnings) AS ggr,
           SUM(r.bonuses) AS bonuses, SUM(r.jackpot_contributions) AS jackpot, SUM(r.taxes) AS taxes,
           SUM(r.payment_fees) AS payment_fees, SUM(r.adjustments) AS adjustments
    FROM players_revenuereport r
    WHERE r.is_current AND r.date >= %(start)s AND r.date < %(end)s {report_filter}
    GROUP BY r.player_id, r.currency, segment
), per_player AS (
    SELECT p.affiliate_id, a.plan_id, s.player_id, s.currency, SUM(s.ggr) AS ggr, SUM(s.bonuses) AS bonuses,
           SUM(s.jackpot) AS jackpot, SUM(s.taxes) AS taxes, SUM(s.payment_fees) AS payment_fees,
           SUM(s.adjustments) AS adjustments
    FROM per_segment s
    JOIN players_player p ON p.id = s.player_id
    CROSS JOIN LATERAL (
        SELECT CASE WHEN s.segment = 0 THEN %(start)s::date ELSE (%(bounds)s::date[])[s.segment] END AS first_day
    ) seg
    JOIN commissions_planassignment a
      ON a.affiliate_id = p.affiliate_id AND a.brand = p.brand
     AND a.valid_from <= seg.first_day AND (a.valid_to IS NULL OR seg.first_day < a.valid_to)
    WHERE true {player_filter}
    GROUP BY p.affiliate_id, a.plan_id, s.player_id, s.currency
), netted AS (
    SELECT pp.*, pl.admin_fee_percent,
           pp.ggr - (CASE WHEN pl.deduct_bonuses THEN pp.bonuses ELSE 0 END
                   + CASE WHEN pl.deduct_jackpot THEN pp.jackpot ELSE 0 END
                   + CASE WHEN pl.deduct_taxes THEN pp.taxes ELSE 0 END
                   + CASE WHEN pl.deduct_payment_fees THEN pp.payment_fees ELSE 0 END
                   + CASE WHEN pl.deduct_adjustments THEN pp.adjustments ELSE 0 END) AS net
    FROM per_player pp JOIN commissions_plan pl ON pl.id = pp.plan_id
    WHERE pl.kind IN ('revshare', 'hybrid')
)
SELECT affiliate_id, plan_id, player_id, currency, ggr, ggr - net AS deductions,
       CASE WHEN net > 0 THEN ROUND(net * admin_fee_percent / 100, 8) ELSE 0 END AS admin_fee,
       net - CASE WHEN net > 0 THEN ROUND(net * admin_fee_percent / 100, 8) ELSE 0 END AS ngr
FROM netted
"""

# CREATE TABLE AS may run its SELECT in parallel (INSERT ... SELECT never does).
_PLAYER_NGR_SQL = "CREATE TEMP TABLE close_player_ngr ON COMMIT DROP AS" + PLAYER_NGR_SELECT.format(
    report_filter="", player_filter=""
)


def assignment_bounds(period: dt.date) -> list[dt.date]:
    """The plan-assignment start and end dates strictly inside a period, sorted."""
    start, end = period, periods.next_period(period)
    assignments = PlanAssignment.objects.order_by()
    dates = set(assignments.filter(valid_from__gt=start, valid_from__lt=end).values_list("valid_from", flat=True))
    dates |= set(assignments.filter(valid_to__gt=start, valid_to__lt=end).values_list("valid_to", flat=True))
    return sorted(dates)


def plan_bands(plan: Plan, applies_to: str) -> list[Band]:
    return [Band(threshold=t.threshold, percent=t.percent)
            for t in plan.tiers.all() if t.applies_to == applies_to]


def _approve_past_hold(period: dt.date, end: dt.datetime) -> int:
    """Pending lines booked up to this period whose hold / refund window ended by its end."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE commissions_commissionentry
               SET status = 'approved', statement_period = %(period)s, status_changed_at = now(),
                   status_reason = 'Approved at the close of ' || %(label)s
             WHERE status = 'pending' AND period <= %(period)s AND approve_after <= %(end)s
               AND (basis_id IS NULL OR kind <> 'override')
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
    with connection.cursor() as cursor:
        # The caller's transaction may already hold one (closing several periods in a row).
        cursor.execute("DROP TABLE IF EXISTS close_player_ngr")
        cursor.execute(_PLAYER_NGR_SQL, {"start": start_date, "end": end_date, "bounds": assignment_bounds(period)})
        cursor.execute(
            """
            SELECT affiliate_id, plan_id, currency, SUM(ngr), COUNT(*) FROM close_player_ngr
            GROUP BY affiliate_id, plan_id, currency ORDER BY affiliate_id, plan_id, currency
            """
        )
        groups = cursor.fetchall()  # one row per affiliate x plan x currency: small
    # Carryovers from the previous period with no revenue this period are carried on too.
    seen = {(a, p, c) for a, p, c, _, _ in groups}
    for carried in StatementRevshare.objects.filter(
        statement__period=periods.previous_period(period), carry_out__lt=0
    ).values_list("statement__affiliate_id", "plan_id", "statement__currency"):
        if carried not in seen:
            groups.append((*carried, ZERO, 0))
    plans = {plan.pk: plan for plan in Plan.objects.filter(pk__in={g[1] for g in groups}).prefetch_related("tiers")}
    affiliates = Affiliate.objects.in_bulk({g[0] for g in groups})
    # One query each for every group's carryover in and qualified-FTD count (no per-group queries).
    carries = {
        (a, p, c): carry for a, p, c, carry in StatementRevshare.objects.filter(
            statement__period=periods.previous_period(period)
        ).values_list("statement__affiliate_id", "plan_id", "statement__currency", "carry_out").order_by()
    }
    ftd_counts = {
        (a, p): n for a, p, n in CommissionEntry.objects.filter(
            kind=Kind.CPA, period=period, status__in=[Status.PENDING, Status.APPROVED, Status.PAID]
        ).values("affiliate_id", "plan_id").annotate(n=Count("id")).values_list("affiliate_id", "plan_id", "n")
        .order_by()
    }
    brands = {
        (a, p): b for a, p, b in
        PlanAssignment.objects.filter(plan_id__in=plans).values_list("affiliate_id", "plan_id", "brand").order_by()
    }
    to_insert: list[CommissionEntry] = []
    for affiliate_id, plan_id, currency, ngr_total, players in groups:
        plan, affiliate = plans[plan_id], affiliates[affiliate_id]
        carry_in = carries.get((affiliate_id, plan_id, currency), ZERO)
        ftd_count = ftd_counts.get((affiliate_id, plan_id), 0)
        measure = Decimal(ftd_count) if plan.revshare_tier_basis == Plan.TierBasis.FTD_COUNT else None
        result = revshare_with_carryover(
            ledger_amount(ngr_total), carry_in=carry_in, carryover=plan.carryover,
            bands=plan_bands(plan, PlanTier.AppliesTo.REVSHARE), default_percent=plan.revshare_percent,
            mode=plan.revshare_tier_mode, measure=measure,
        )
        entry = None
        if result.commission > 0:
            status, reason = Status.APPROVED, ""
            if affiliate.status != Affiliate.Status.ACTIVE:
                status, reason = Status.SUPPRESSED, "Affiliate suspended"
            # The period is being closed under an exclusive lock and nothing of this close
            # exists yet (a close commits whole or not at all), so the rows are inserted in bulk.
            entry = entry_build(
                line=Line(kind=Kind.REVSHARE, affiliate=affiliate, plan=plan, amount=result.commission,
                          currency=currency, occurred_at=start, status=status, status_reason=reason,
                          quantity=result.base, rate=plan.revshare_percent,
                          detail={"ngr": str(ngr_total), "carry_in": str(carry_in), "players": players}),
                source_event_id=None,
                idempotency_key=f"close:{period:%Y-%m}:revshare:{affiliate_id}:{plan_id}:{currency}",
                period=period,
            )
            to_insert.append(entry)
        summaries.append({
            "affiliate_id": affiliate_id, "plan_id": plan_id, "currency": currency, "ngr": ngr_total,
            "players": players, "ftd_count": ftd_count, "carry_in": carry_in, "result": result, "entry": entry,
        })
    CommissionEntry.objects.bulk_create(to_insert, batch_size=2000)
    for entry in to_insert:
        if entry.affiliate.parent_id is not None:
            overrides_book(lines=[entry], brand=brands.get((entry.affiliate_id, entry.plan_id), ""),
                           key_prefix=f"close:{period:%Y-%m}:revshare:{entry.pk}")
    return summaries


def _cpa_tier_adjustments(period: dt.date, start: dt.datetime) -> int:
    booked = 0
    tiered_plans = Plan.objects.filter(tiers__applies_to=PlanTier.AppliesTo.CPA).distinct().prefetch_related("tiers")
    for plan in tiered_plans:
        bands = plan_bands(plan, PlanTier.AppliesTo.CPA)
        counts = (
            CommissionEntry.objects.filter(plan=plan, kind=Kind.CPA, period=period,
                                           status__in=[Status.APPROVED, Status.PAID, Status.PENDING])
            .values("affiliate_id", "currency").annotate(n=Count("id"), total=Sum("amount")).order_by("affiliate_id")
        )
        for row in counts.iterator():
            due = cpa_tier_total(row["n"], amount=plan.cpa_amount, bands=bands, mode=plan.cpa_tier_mode)
            adjustment = due - row["total"]
            if adjustment == 0:
                continue
            affiliate = Affiliate.objects.get(pk=row["affiliate_id"])
            entry_book(
                line=Line(kind=Kind.TIER_ADJUSTMENT, affiliate=affiliate, plan=plan, amount=adjustment,
                          currency=row["currency"], occurred_at=start, status=Status.APPROVED,
                          quantity=Decimal(row["n"]), detail={"qualified": row["n"], "due": str(due)}),
                idempotency_key=f"close:{period:%Y-%m}:cpa_tier:{affiliate.pk}:{plan.pk}:{row['currency']}",
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
        .values("affiliate_id", "currency", "kind", "plan_id")
        .annotate(n=Count("id"), exact=Sum("amount"))
        .order_by("affiliate_id", "currency", "kind", "plan_id")
    )
    # Each line is rounded once; a statement's total is the sum of its rounded lines, known
    # before the statements are inserted (no UPDATE of a thousand rows afterwards).
    rounding = dict(Plan.objects.values_list("pk", "rounding_mode"))
    totals: dict[tuple[int, str], Decimal] = {(s["affiliate_id"], s["currency"]): ZERO for s in summaries}
    for row in grouped:
        key = (row["affiliate_id"], row["currency"])
        row["amount"] = round_money(row["exact"], row["currency"], rounding.get(row["plan_id"], "half_even"))
        totals[key] = totals.get(key, ZERO) + row["amount"]
    created = Statement.objects.bulk_create(
        [Statement(period=period, affiliate_id=a, currency=c, total=total) for (a, c), total in sorted(totals.items())],
        batch_size=2000,
    )
    statements = {(s.affiliate_id, s.currency): s for s in created}
    StatementLine.objects.bulk_create(
        [StatementLine(statement=statements[(row["affiliate_id"], row["currency"])], kind=row["kind"],
                       plan_id=row["plan_id"], entry_count=row["n"], exact_amount=row["exact"], amount=row["amount"])
         for row in grouped],
        batch_size=2000,
    )
    summary_rows = []
    for s in summaries:
        result = s["result"]
        summary_rows.append(StatementRevshare(
            statement=statements[(s["affiliate_id"], s["currency"])], plan_id=s["plan_id"], player_count=s["players"],
            ftd_count=s["ftd_count"], ngr=ledger_amount(s["ngr"]), carry_in=s["carry_in"], base=result.base,
            carry_out=result.carry_out, commission=result.commission, entry=s["entry"],
        ))
    StatementRevshare.objects.bulk_create(summary_rows, batch_size=2000)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO commissions_statementplayerngr (statement_id, plan_id, player_id, ggr, deductions, admin_fee, ngr)
            SELECT s.id, n.plan_id, n.player_id, n.ggr, n.deductions, n.admin_fee, n.ngr
              FROM close_player_ngr n
              JOIN commissions_statement s
                ON s.period = %s AND s.affiliate_id = n.affiliate_id AND s.currency = n.currency
            """,
            [period],
        )
        cursor.execute("DROP TABLE close_player_ngr")
    return len(statements)


def statements_close(*, period: dt.date, acting_user=None, now: dt.datetime | None = None) -> PeriodClose:
    """Close a period (idempotent: a closed period is returned as it is)."""
    if period.day != 1:
        raise StatementError("A period is the first day of a month.")
    start, end = periods.period_bounds(period)
    now = now or timezone.now()
    if end > now:
        raise StatementError(f"{period:%Y-%m} has not ended yet; it can be closed from {end.isoformat()}.")
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
            period=period, closed_by=acting_user,
            summary={"statements": count, "approved_after_hold": approved, "revshare_groups": len(summaries),
                     "cpa_tier_adjustments": tier_adjustments},
        )
        audit_record(action="period.closed", instance=close, actor=acting_user, after=close.summary)
    return close


def statement_approve(*, statement: Statement, acting_user) -> Statement:
    """Approve a closed statement; from then on it never changes (audited)."""
    with transaction.atomic():
        locked = Statement.objects.select_for_update().get(pk=statement.pk)
        if locked.status == Statement.Status.APPROVED:
            raise StatementError(f"Statement #{locked.pk} is already approved.")
        locked.status, locked.approved_by, locked.approved_at = Statement.Status.APPROVED, acting_user, timezone.now()
        locked.save(update_fields=["status", "approved_by", "approved_at"])
        audit_record(action="statement.approved", instance=locked, actor=acting_user,
                     before={"status": "closed"}, after={"status": "approved", "total": str(locked.total)})
        events.statement_approved_publish(statement=locked)
    return locked


def statement_entries(statement: Statement):
    """The ledger rows a statement carries (drill-down)."""
    return CommissionEntry.objects.filter(
        Q(statement_period=statement.period, affiliate_id=statement.affiliate_id, currency=statement.currency),
        status__in=[Status.APPROVED, Status.PAID],
    )
