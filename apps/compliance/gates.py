"""The accrual gate: the one compliance check every commission accrual passes through.

DOMAIN.md "Compliance gates (checked at every accrual)". Commissions call `accrual_gate` with
the player, the affiliate that would earn, the time of what earned it and the purpose; a
blocked accrual is still written, as a suppressed line carrying `reason`.

Order of checks (the first that blocks is reported): affiliate suspended, geo (brand not
licensed in the player's country at `at`: never licensed, or the licence withdrawn then),
self-exclusion in force at `at`, KYC (CPA only).

RevShare is accrued per period, not per event, so the period close applies the same rules per
revenue day in SQL (`REVSHARE_GATED_DAYS_SQL`): a day overlapped by a self-exclusion or a
licence withdrawal earns nothing, unless an override of that kind overlaps the day too. An active
`ExclusionOverride` lifts the geo or the exclusion block for its player; each use is audited
in the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import models

from apps.affiliates.models import Affiliate
from apps.compliance.models import ExclusionOverride, KycRecord
from apps.compliance.selectors import (
    brand_is_licensed_at,
    kyc_current_status,
    player_is_self_excluded,
)
from apps.core.audit import audit_record
from apps.players.models import Player


class GatePurpose(models.TextChoices):
    CPA = "cpa", "CPA qualification"
    REVSHARE = "revshare", "RevShare"
    LOT_REBATE = "lot_rebate", "Lot rebate / spread share"
    PROP_FEE = "prop_fee", "Prop fee"
    OVERRIDE = "override", "Sub-affiliate override"


class GateReason(models.TextChoices):
    AFFILIATE_SUSPENDED = "affiliate_suspended", "Affiliate suspended"
    NOT_LICENSED = "not_licensed", "Brand not licensed in the player's country"
    SELF_EXCLUDED = "self_excluded", "Player self-excluded"
    KYC_NOT_PASSED = "kyc_not_passed", "KYC not passed"


@dataclass(frozen=True)
class GateResult:
    allowed: bool
    reason: str = ""
    code: str = ""
    override_id: int | None = None

    def __bool__(self) -> bool:
        return self.allowed


ALLOWED = GateResult(allowed=True)


def _blocked(code: GateReason, detail: str = "") -> GateResult:
    reason = str(code.label) + (f": {detail}" if detail else "")
    return GateResult(allowed=False, reason=reason, code=code.value)


def active_override(*, player: Player, kind: str, at: dt.datetime) -> ExclusionOverride | None:
    """The override of `kind` in force for the player at `at`, if any."""
    return (
        ExclusionOverride.objects.active(at=at)
        .filter(player=player, kind=kind)
        .order_by("-expires_at", "-pk")
        .first()
    )


def _use_override(
    override: ExclusionOverride, *, purpose: str, at: dt.datetime, affiliate: Affiliate
) -> None:
    audit_record(
        action="exclusion_override.used",
        instance=override,
        actor_label="accrual gate",
        after={
            "purpose": purpose,
            "at": at.isoformat(),
            "affiliate_id": affiliate.pk,
            "player_id": override.player_id,
        },
        reason=override.reason,
    )


def accrual_gate(
    *,
    player: Player,
    affiliate: Affiliate,
    at: dt.datetime,
    purpose: str,
    kyc_required: bool = True,
) -> GateResult:
    """May `affiliate` accrue for `player` for something that happened at `at`?

    `kyc_required` is the plan's CPA setting; KYC is only checked for the CPA purpose.
    """
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("The gate needs an aware time.")
    if purpose not in GatePurpose.values:
        raise ValueError(f"Unknown gate purpose {purpose!r}.")

    if affiliate.status != Affiliate.Status.ACTIVE:
        return _blocked(GateReason.AFFILIATE_SUSPENDED, affiliate.name)

    used: list[ExclusionOverride] = []
    if not brand_is_licensed_at(player.brand, player.country, at):
        override = active_override(player=player, kind=ExclusionOverride.Kind.GEO, at=at)
        if override is None:
            return _blocked(GateReason.NOT_LICENSED, f"{player.brand} in {player.country}")
        used.append(override)

    if player_is_self_excluded(player=player, at=at):
        override = active_override(player=player, kind=ExclusionOverride.Kind.EXCLUSION, at=at)
        if override is None:
            return _blocked(GateReason.SELF_EXCLUDED, f"in force at {at.isoformat()}")
        used.append(override)

    if (
        purpose == GatePurpose.CPA
        and kyc_required
        and kyc_current_status(player=player) != KycRecord.Status.PASSED
    ):
        return _blocked(GateReason.KYC_NOT_PASSED)

    for override in used:
        _use_override(override, purpose=purpose, at=at, affiliate=affiliate)
    return GateResult(allowed=True, override_id=used[-1].pk if used else None)


# The accrual gate for RevShare, per revenue day of a period: one row per (player, day) that
# earns nothing, with the reason. Self-exclusions and licence withdrawals are few, so the rows are
# few; the close subtracts these days' revenue from its per-player aggregate rather than probing
# every revenue row. A day is gated when an exclusion (or withdrawal) overlaps any part of it,
# and lifted when an override of the same kind overlaps it too (each use is audited by the close).
# Params: start, end (dates, [start, end)), tz (operator zone name); `{player_filter}` narrows to
# one player (`AND p.id = %(player)s`) for restatements.
REVSHARE_GATED_DAYS_SQL = """
WITH days AS (
    SELECT d::date AS date, (d::timestamp AT TIME ZONE %(tz)s) AS day_start,
           ((d + interval '1 day')::timestamp AT TIME ZONE %(tz)s) AS day_end
    FROM generate_series(%(start)s::date, %(end)s::date - 1, interval '1 day') d
), blocked AS (
    SELECT p.id AS player_id, d.date, 0 AS priority, 'geo' AS override_kind,
           'Brand not licensed in the player''s country: licence withdrawn' AS reason
    FROM compliance_licencewithdrawal w
    JOIN days d ON w.starts_at < d.day_end AND (w.ended_at IS NULL OR w.ended_at > d.day_start)
    JOIN players_player p ON p.brand = w.brand AND p.country = w.country AND p.affiliate_id IS NOT
        NULL
    WHERE true {player_filter}
    UNION ALL
    SELECT p.id, d.date, 1, 'exclusion', 'Player self-excluded'
    FROM compliance_selfexclusion e
    JOIN days d ON e.starts_at < d.day_end
     AND (e.ended_at IS NULL OR e.ended_at > d.day_start) AND (e.ends_at IS NULL OR e.ends_at >
         d.day_start)
    JOIN players_player p ON p.id = e.player_id AND p.affiliate_id IS NOT NULL
    WHERE true {player_filter}
), gated AS (
    SELECT b.*, (SELECT o.id FROM compliance_exclusionoverride o
                  JOIN days d ON d.date = b.date
                 WHERE o.player_id = b.player_id AND o.kind = b.override_kind
                   AND o.starts_at < d.day_end AND o.expires_at > d.day_start
                   AND (o.revoked_at IS NULL OR o.revoked_at > d.day_start)
                 ORDER BY o.expires_at DESC, o.id DESC LIMIT 1) AS override_id
    FROM blocked b
), unlifted AS (
    SELECT DISTINCT ON (player_id, date) player_id, date, reason
    FROM gated WHERE override_id IS NULL
    ORDER BY player_id, date, priority
)
SELECT player_id, date, reason, NULL::bigint AS override_id FROM unlifted
UNION ALL
(SELECT DISTINCT ON (override_id) player_id, date, reason, override_id FROM gated
  WHERE override_id IS NOT NULL ORDER BY override_id, date)
"""
# Rows with an override_id are days an override lifted (for auditing its use), not gated days.
