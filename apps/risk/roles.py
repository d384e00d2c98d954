"""Permissions the risk queue adds to the staff roles (issue 17 §6), merged on top of the payouts
roles (which merge on commissions, retention and core); monitoring merges on these.

Compliance and Finance both work the queue: see cases, signals and rules, and decide cases
(clear, confirm, escalate). Compliance tunes the rules and keeps the affiliates' own identity
values (self-referral); Finance reads them.
"""

from __future__ import annotations

from apps.core.roles import COMPLIANCE, FINANCE
from apps.payouts.roles import merged_roles as payouts_roles

_QUEUE = [
    "risk.view_riskcase",
    "risk.decide_riskcase",
    "risk.view_risksignal",
    "risk.view_riskrule",
    "risk.view_riskdecision",
]

EXTRA_ROLE_PERMISSIONS: dict[str, list[str]] = {
    COMPLIANCE: [
        *_QUEUE,
        "risk.change_riskrule",
        "risk.tune_riskrule",
        "risk.view_affiliateidentityvalue",
        "risk.add_affiliateidentityvalue",
        "risk.change_affiliateidentityvalue",
    ],
    FINANCE: [*_QUEUE, "risk.view_affiliateidentityvalue"],
}


def merged_roles() -> dict[str, list[str]]:
    merged = payouts_roles()
    for name, perms in EXTRA_ROLE_PERMISSIONS.items():
        merged.setdefault(name, [])
        merged[name] += [perm for perm in perms if perm not in merged[name]]
    return merged
