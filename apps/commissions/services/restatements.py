"""Revenue restated after its month was closed (DOMAIN.md "Statements and payouts": statements
are immutable once approved; corrections are new lines in a later period).

A closed period's RevShare was computed from the revenue reports current at the close, and the
close kept each player's NGR (`StatementPlayerNgr`). When a report for a day of a closed period
changes that player's NGR, the affiliate's RevShare for the period is recomputed with the
player's new NGR in place of the one already accounted for (same carry in, same tiers, same FTD
count), and the difference is booked as an `adjustment` line in the first open period. Each
adjustment keeps the player's NGR it accounted for, so a second restatement of the same player
books only what changed since, and the lines of a period add up to the RevShare of its current
revenue.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import connection, transaction

from apps.affiliates.models import Affiliate
from apps.commissions import periods
from apps.commissions.calculators import ZERO, ledger_amount, revshare_with_carryover
from apps.commissions.models import (
    CommissionEntry,
    PeriodClose,
    Plan,
    PlanTier,
    StatementPlayerNgr,
    StatementRevshare,
)
from apps.commissions.services.ledger import (
    Kind,
    Line,
    Status,
    entry_book,
    overrides_book,
    plan_for,
)
from apps.commissions.services.statements import PLAYER_NGR_SELECT, assignment_bounds, plan_bands
from apps.players.facts import RevenueReport

_ONE_PLAYER_NGR_SQL = PLAYER_NGR_SELECT.format(
    report_filter="AND r.player_id = %(player)s AND r.currency = %(currency)s",
    player_filter="AND a.plan_id = %(plan)s",
)


def _player_ngr(*, period: dt.date, player_id: int, plan_id: int, currency: str) -> Decimal:
    """The player's NGR for the period under the plan, from the reports current now (the same
    query the close runs, for one player)."""
    params = {"start": period, "end": periods.next_period(period), "bounds": assignment_bounds(period),
              "player": player_id, "plan": plan_id, "currency": currency}
    with connection.cursor() as cursor:
        cursor.execute(_ONE_PLAYER_NGR_SQL, params)
        rows = cursor.fetchall()
    return ledger_amount(sum((row[-1] for row in rows), ZERO))


def revshare_restatement_book(*, report: RevenueReport, source_event_id: int) -> CommissionEntry | None:
    """Book the RevShare difference a revenue report for a closed period makes (None when the
    period is open, the plan pays no RevShare, or nothing changes)."""
    period = report.date.replace(day=1)
    player = report.player
    if player.affiliate_id is None or not PeriodClose.objects.filter(period=period).exists():
        return None
    day_start = dt.datetime.combine(report.date, dt.time.min, tzinfo=periods.operator_zone())
    plan = plan_for(affiliate_id=player.affiliate_id, brand=player.brand, at=day_start)
    if plan is None or not plan.pays_revshare:
        return None
    label = f"{period:%Y-%m}"
    with transaction.atomic():
        # One restatement of an affiliate's closed period at a time: each starts from what the
        # previous ones accounted for.
        affiliate = Affiliate.objects.select_for_update(no_key=True).get(pk=player.affiliate_id)
        group = {"statement__period": period, "statement__affiliate_id": affiliate.pk,
                 "statement__currency": report.currency, "plan": plan}
        summary = StatementRevshare.objects.filter(**group).select_related("entry").first()
        earlier = list(
            CommissionEntry.objects.filter(kind=Kind.ADJUSTMENT, affiliate=affiliate, plan=plan,
                                           currency=report.currency, detail__restates=label)
            .order_by("pk").values_list("player_id", "amount", "detail")
        )
        # What is accounted for so far: the close, then each earlier restatement.
        ngr_total = summary.ngr if summary else ZERO
        commission = summary.commission if summary else ZERO
        player_ngr_before = StatementPlayerNgr.objects.filter(**group, player=player).values_list("ngr", flat=True).first()
        player_ngr_before = player_ngr_before if player_ngr_before is not None else ZERO
        for player_id, amount, detail in earlier:
            ngr_total += Decimal(detail["player_ngr"]) - Decimal(detail["player_ngr_before"])
            commission += amount
            if player_id == player.pk:
                player_ngr_before = Decimal(detail["player_ngr"])
        player_ngr = _player_ngr(period=period, player_id=player.pk, plan_id=plan.pk, currency=report.currency)
        if player_ngr == player_ngr_before:
            return None
        ngr_after = ngr_total + player_ngr - player_ngr_before
        ftd_count = summary.ftd_count if summary else 0
        result = revshare_with_carryover(
            ngr_after, carry_in=summary.carry_in if summary else ZERO, carryover=plan.carryover,
            bands=plan_bands(plan, PlanTier.AppliesTo.REVSHARE), default_percent=plan.revshare_percent,
            mode=plan.revshare_tier_mode,
            measure=Decimal(ftd_count) if plan.revshare_tier_basis == Plan.TierBasis.FTD_COUNT else None,
        )
        status, reason = Status.APPROVED, ""
        if affiliate.status != Affiliate.Status.ACTIVE:
            status, reason = Status.SUPPRESSED, "Affiliate suspended"
        line = Line(
            kind=Kind.ADJUSTMENT, affiliate=affiliate, player=player, plan=plan,
            amount=result.commission - commission, currency=report.currency, occurred_at=report.occurred_at,
            status=status, status_reason=reason, quantity=ngr_after, rate=plan.revshare_percent,
            reverses=summary.entry if summary else None,
            detail={"restates": label, "report": report.pk, "player_ngr_before": str(player_ngr_before),
                    "player_ngr": str(player_ngr), "ngr_before": str(ngr_total), "ngr": str(ngr_after),
                    "commission_before": str(commission), "commission": str(result.commission)},
        )
        entry, created = entry_book(line=line, source_event_id=source_event_id)
        if created and entry.amount != 0 and affiliate.parent_id is not None:
            overrides_book(lines=[entry], brand=player.brand, source_event_id=source_event_id)
        return entry
