"""Velocity: an affiliate's first deposits per hour far above its own trailing baseline.

Definition: when a player's first deposit (FTD) arrives, count the FTDs of the affiliate's
players in the hour up to it. The rule fires when that count is at least `min_count` and more
than `multiplier` times the affiliate's hourly baseline: its FTDs over the `baseline_days`
before that hour divided by the hours in them, but never less than `min_baseline` per hour (a
new affiliate with no history is compared with that floor). At most one signal per affiliate
and clock hour.

Parameters:
- `multiplier` (default 5): N in "N x the baseline"; exactly N x does not fire;
- `baseline_days` (default 7): the trailing window of the baseline;
- `min_count` (default 20): fewer FTDs in the hour never fire (a small affiliate's busy hour
  is not a burst);
- `min_baseline` (default 0.5): the floor of the hourly baseline.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from apps.players.facts import Deposit
from apps.risk.rules.base import EventFacts, Finding, param

CODE = "velocity"
NAME = "First-deposit velocity"
SCORE = 30
TRIGGERS = ("deposit",)
DEFAULTS = {"multiplier": 5, "baseline_days": 7, "min_count": 20, "min_baseline": 0.5}

HOUR = dt.timedelta(hours=1)


def evaluate(facts: EventFacts, params: dict) -> list[Finding]:
    deposit = facts.deposit
    affiliate_id = facts.player.affiliate_id
    if deposit is None or not deposit.is_first or affiliate_id is None:
        return []
    multiplier = Decimal(str(param(params, DEFAULTS, "multiplier")))
    days = int(param(params, DEFAULTS, "baseline_days"))
    min_count = int(param(params, DEFAULTS, "min_count"))
    floor = Decimal(str(param(params, DEFAULTS, "min_baseline")))
    at = deposit.occurred_at
    ftds = Deposit.objects.filter(is_first=True, player__affiliate_id=affiliate_id)
    hour = list(
        ftds.filter(occurred_at__gt=at - HOUR, occurred_at__lte=at)
        .order_by("occurred_at")
        .values_list("player_id", flat=True)
    )
    if len(hour) < min_count:
        return []
    before = ftds.filter(
        occurred_at__gt=at - HOUR - dt.timedelta(days=days), occurred_at__lte=at - HOUR
    ).count()
    baseline = max(Decimal(before) / Decimal(days * 24), floor)
    if Decimal(len(hour)) <= multiplier * baseline:
        return []
    bucket = at.replace(minute=0, second=0, microsecond=0)
    return [
        Finding(
            affiliate_id=affiliate_id,
            key=f"{CODE}:{affiliate_id}:{bucket:%Y%m%d%H}",
            summary=f"{len(hour)} first deposits in an hour against a baseline of "
            f"{baseline.quantize(Decimal('0.01'))}/h",
            players=tuple(hour),
            evidence={
                "hour_ending": at.isoformat(),
                "first_deposits": len(hour),
                "baseline_per_hour": str(baseline.quantize(Decimal("0.0001"))),
                "baseline_days": days,
                "multiplier": str(multiplier),
            },
        )
    ]
