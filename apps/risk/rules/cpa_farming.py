"""CPA farming: many of an affiliate's qualified CPAs come from players who deposited the
minimum and never played again.

Definition (nightly): take the affiliate's qualified CPA lines (pending, approved or paid) that
qualified between `lookback_days` and `inactive_days` days ago. A CPA is farmed when its player
deposited at most `max_deposit` in all and had no activity (a later deposit, a revenue day with
stakes, a closed trade) within `inactive_days` days after qualifying. The rule fires when at
least `min_cpas` CPAs are farmed and they are at least `min_share` of the affiliate's CPAs in
the window. The signal is raised again only when new farmed CPAs appear.

Parameters:
- `max_deposit` (default 20): deposit total at or under which a player is a minimum depositor
  (in the deposits' currency);
- `inactive_days` (default 7): days after qualifying without activity;
- `min_share` (default 0.5): share of farmed CPAs (exactly the share fires);
- `min_cpas` (default 3): fewest farmed CPAs that fire;
- `lookback_days` (default 90): how far back qualified CPAs are looked at.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

from django.db.models import Exists, OuterRef, Subquery, Sum

from apps.commissions.models import CommissionEntry
from apps.players.facts import Deposit, RevenueReport, Trade
from apps.risk.rules.base import Finding, NightlyFacts, param

CODE = "cpa_farming"
NAME = "CPA farming"
SCORE = 50
TRIGGERS = ("nightly",)
DEFAULTS = {
    "max_deposit": 20,
    "inactive_days": 7,
    "min_share": 0.5,
    "min_cpas": 3,
    "lookback_days": 90,
}


def evaluate(facts: NightlyFacts, params: dict) -> list[Finding]:
    max_deposit = Decimal(str(param(params, DEFAULTS, "max_deposit")))
    inactive = dt.timedelta(days=int(param(params, DEFAULTS, "inactive_days")))
    min_share = Decimal(str(param(params, DEFAULTS, "min_share")))
    min_cpas = int(param(params, DEFAULTS, "min_cpas"))
    since = facts.now - dt.timedelta(days=int(param(params, DEFAULTS, "lookback_days")))
    player, qualified = OuterRef("player_id"), OuterRef("occurred_at")
    deposited = (
        Deposit.objects.filter(player_id=player)
        .values("player_id")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    rows = (
        CommissionEntry.objects.filter(
            kind=CommissionEntry.Kind.CPA,
            status__in=["pending", "approved", "paid"],
            player__isnull=False,
            occurred_at__gte=since,
            occurred_at__lte=facts.now - inactive,
        )
        .annotate(
            deposited=Subquery(deposited[:1]),
            deposited_later=Exists(
                Deposit.objects.filter(
                    player_id=player,
                    occurred_at__gt=qualified,
                    occurred_at__lte=qualified + inactive,
                )
            ),
            played=Exists(
                RevenueReport.objects.filter(
                    player_id=player,
                    is_current=True,
                    stakes__gt=0,
                    date__gte=qualified,
                    date__lte=qualified + inactive,
                )
            ),
            traded=Exists(
                Trade.objects.filter(
                    player_id=player, closed_at__gt=qualified, closed_at__lte=qualified + inactive
                )
            ),
        )
        .values_list(
            "pk", "affiliate_id", "player_id", "deposited", "deposited_later", "played", "traded"
        )
        .order_by("affiliate_id", "pk")
    )
    totals: dict[int, int] = defaultdict(int)
    farmed: dict[int, list[tuple[int, int, Decimal]]] = defaultdict(list)
    for pk, affiliate_id, player_id, total, later, played, traded in rows.iterator():
        totals[affiliate_id] += 1
        if (total or Decimal(0)) <= max_deposit and not (later or played or traded):
            farmed[affiliate_id].append((pk, player_id, total or Decimal(0)))
    findings = []
    for affiliate_id, cpas in sorted(farmed.items()):
        share = Decimal(len(cpas)) / Decimal(totals[affiliate_id])
        if len(cpas) < min_cpas or share < min_share:
            continue
        findings.append(
            Finding(
                affiliate_id=affiliate_id,
                key=f"{CODE}:{affiliate_id}:{max(pk for pk, _, _ in cpas)}",
                summary=f"{len(cpas)} of {totals[affiliate_id]} qualified CPAs deposited at most "
                f"{max_deposit} and stopped ({share:.0%})",
                players=tuple(player_id for _, player_id, _ in cpas),
                evidence={
                    "farmed": [
                        {"cpa_line": pk, "player": p, "deposited": str(total)}
                        for pk, p, total in cpas
                    ],
                    "qualified_cpas": totals[affiliate_id],
                    "share": str(share.quantize(Decimal("0.0001"))),
                },
            )
        )
    return findings
