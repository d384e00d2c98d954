"""Retention selectors: players with their deposit, revenue, KYC and exclusion aggregates,
narrowed by the retention FilterSet, and churn/reactivation cohorts.

Retention sits above players, compliance and mappings (players sits below compliance and
cannot see KYC or self-exclusions). One selector serves GET /api/v1/players/, the retention
admin and its exports.

Aggregates are correlated subqueries (one query for a whole page, no N+1). Amounts are summed
in each player's own currency (a player deposits in one brand currency). NGR here is the sum of
the current daily reports' NGR parts (stakes - winnings - bonuses - jackpot contributions -
taxes - payment fees - adjustments), before plan-specific deductions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import (
    CharField,
    DateTimeField,
    DecimalField,
    Exists,
    F,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Cast, Coalesce, Greatest
from django.utils import timezone

from apps.affiliates.models import Affiliate
from apps.compliance.models import KycRecord, SelfExclusion
from apps.core import conf
from apps.core.filters import filterset_apply
from apps.core.rates import rate
from apps.players.models import Deposit, Player, Purchase, RevenueReport, Trade
from apps.retention import sql
from apps.retention.filters import RetentionPlayerFilter

MONEY = DecimalField(max_digits=20, decimal_places=8)
ZERO = Value(Decimal(0), output_field=MONEY)


def churn_days() -> int:
    return conf.integer("AFFILIATEHUB_RETENTION_CHURN_DAYS")


def _per_player(queryset, aggregate):
    return Subquery(
        queryset.filter(player=OuterRef("pk"))
        .order_by()
        .values("player")
        .annotate(v=aggregate)
        .values("v")
    )


def with_retention_figures(queryset: QuerySet, *, now: dt.datetime | None = None) -> QuerySet:
    """Annotate first/last deposit, lifetime deposits, NGR, current KYC status and 'excluded
    now'."""
    now = now or timezone.now()
    ngr = (
        F("stakes")
        - F("winnings")
        - F("bonuses")
        - F("jackpot_contributions")
        - F("taxes")
        - F("payment_fees")
        - F("adjustments")
    )
    first_deposit = Deposit.objects.filter(player=OuterRef("pk")).order_by("occurred_at", "pk")
    return queryset.annotate(
        currency=Subquery(first_deposit.values("currency")[:1], output_field=CharField()),
        last_activity_at=Greatest(
            _per_player(Deposit.objects.all(), Max("occurred_at")),
            Cast(
                _per_player(RevenueReport.objects.filter(is_current=True), Max("date")),
                DateTimeField(),
            ),
            _per_player(Trade.objects.all(), Max("closed_at")),
            _per_player(Purchase.objects.all(), Max("purchased_at")),
        ),
        first_deposit_at=_per_player(Deposit.objects.all(), Min("occurred_at")),
        last_deposit_at=_per_player(Deposit.objects.all(), Max("occurred_at")),
        lifetime_deposits=Coalesce(
            _per_player(Deposit.objects.all(), Sum("amount")), ZERO, output_field=MONEY
        ),
        ngr=Coalesce(
            _per_player(RevenueReport.objects.filter(is_current=True), Sum(ngr)),
            ZERO,
            output_field=MONEY,
        ),
        kyc_status=Subquery(
            KycRecord.objects.filter(player=OuterRef("pk"), is_current=True)
            .order_by("-updated_at")
            .values("status")[:1]
        ),
        is_excluded=Exists(
            SelfExclusion.objects.filter(
                player=OuterRef("pk"), starts_at__lte=now, ended_at__isnull=True
            ).filter(Q(ends_at__isnull=True) | Q(ends_at__gt=now))
        ),
    )


def retention_player_list(
    *, filters: Mapping | None = None, queryset: QuerySet | None = None
) -> QuerySet:
    """Players with retention figures, narrowed by RetentionPlayerFilter (FilterError on bad
    values)."""
    base = with_retention_figures(Player.objects.all() if queryset is None else queryset)
    return filterset_apply(RetentionPlayerFilter, data=filters, queryset=base)


# --- cohorts ----------------------------------------------------------------------------------


@dataclass
class CohortRow:
    month: dt.date
    group: str  # "organic" or the affiliate's name
    players: int = 0
    depositors: int = 0
    churned: int = 0
    reactivated: int = 0

    @property
    def churn_rate(self) -> Decimal | None:
        return rate(self.churned, self.depositors)

    @property
    def reactivation_rate(self) -> Decimal | None:
        return rate(self.reactivated, self.depositors)


def cohorts(
    *, now: dt.datetime | None = None, days: int | None = None, since: dt.date | None = None
) -> list[CohortRow]:
    """Churn and reactivation by registration month, per affiliate and organic.

    Among players who deposited: churned = no deposit in the last `days` (default
    RETENTION_CHURN_DAYS, 30); reactivated = deposited again after a gap of at least `days`
    between two consecutive deposits. One query: consecutive gaps via a window function.
    """
    now = now or timezone.now()
    days = days or churn_days()
    since = since or (now - dt.timedelta(days=365)).date().replace(day=1)
    raw = sql.deposit_cohorts(
        gap=dt.timedelta(days=days),
        cutoff=now - dt.timedelta(days=days),
        since=dt.datetime.combine(since, dt.time(), tzinfo=dt.UTC),
    )
    names = dict(
        Affiliate.objects.filter(pk__in={r[1] for r in raw if r[1]}).values_list("pk", "name")
    )
    rows: dict[tuple, CohortRow] = {}
    for month, affiliate_id, players, depositors, churned, reactivated in raw:
        group = names.get(affiliate_id, "organic") if affiliate_id else "organic"
        row = rows.setdefault((month, group), CohortRow(month=month, group=group))
        row.players += players
        row.depositors += depositors
        row.churned += churned
        row.reactivated += reactivated
    return list(rows.values())
