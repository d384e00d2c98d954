"""Which version of a plan's terms applies (DOMAIN.md "Controls": terms are versioned).

A plan is a family of versions (`Plan.family`, `Plan.version`, `Plan.effective_from`).
Activity priced as it happens (CPA, lot rebates, spread share, prop fees, overrides, clawback
proposals) uses the version in force on the operator-local date of the activity. What is priced
per period (RevShare and its tiers and carryover, CPA tier adjustments) uses the version in force
on the period's first day, at the close and in every later restatement of that period: a version
that takes effect mid-month applies to the period-level terms from the next month, never
retroactively.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Q

from apps.commissions.models import Plan


def family_versions_in_force(root, day):
    """Versions of the family `root` (an id or an expression) in force on `day`, newest first."""
    return (
        Plan.objects.filter(Q(pk=root) | Q(family_id=root))
        .filter(Q(effective_from__isnull=True) | Q(effective_from__lte=day))
        .order_by("-version")
    )


def plan_version_at(plan: Plan, day: dt.date) -> Plan:
    """The version of `plan`'s family in force on `day` (operator-local date)."""
    return family_versions_in_force(plan.family_root_id, day).first() or plan


def plan_versions_for_period(period: dt.date) -> dict[int, int]:
    """Every plan id -> the id of its family's version in force on the period's first day
    (only plans with more than one version appear; others price themselves)."""
    rows = list(
        Plan.objects.filter(Q(family__isnull=False) | Q(versions__isnull=False))
        .distinct()
        .values_list("pk", "family_id", "version", "effective_from")
        .order_by()
    )
    in_force: dict[int, tuple[int, int]] = {}
    for pk, family_id, version, effective_from in rows:
        root = family_id or pk
        in_force_then = effective_from is None or effective_from <= period
        if in_force_then and (root not in in_force or version > in_force[root][0]):
            in_force[root] = (version, pk)
    return {
        pk: in_force[family_id or pk][1]
        for pk, family_id, _, _ in rows
        if (family_id or pk) in in_force
    }
