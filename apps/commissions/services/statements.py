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

from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from apps.commissions import events, periods, sql
from apps.commissions.calculators import ZERO, ledger_amount
from apps.commissions.models import (
    CommissionEntry,
    PeriodClose,
    Plan,
    Statement,
    StatementLine,
    StatementRevshare,
)
from apps.commissions.services.close_lines import (
    close_cpa_tier_adjustments,
    close_revshare_lines,
    restating,
)
from apps.commissions.services.ledger import Kind, Status
from apps.core.audit import audit_record
from apps.core.money import round_money


class StatementError(ValueError):
    pass


def _approve_past_hold(period: dt.date, end: dt.datetime) -> int:
    """Pending lines booked up to this period whose hold / refund window ended by its end, unless
    a live hold (a risk case) keeps them back: they wait for the close after its release."""
    return sql.entries_approve_past_hold(period=period, end=end)


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
    sql.statement_player_ngr_insert(period)
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
        jit = sql.jit_off_for_transaction()  # a batch of a few large statements (sql.py)
        approved = _approve_past_hold(period, end)
        summaries = close_revshare_lines(period, start)
        tier_adjustments = close_cpa_tier_adjustments(period, start)
        count = _build_statements(period, summaries)
        sql.jit_restore(jit)  # (on an error, the rollback restores it)
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
