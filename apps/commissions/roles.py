"""Permissions the commission engine adds to the staff roles of apps.core.roles (least privilege).

apps/core/roles.py lists the base roles and apps/retention/roles.py adds retention's; these are
merged on top of them by `merged_roles()`, which the commissions data migration passes to
`sync_roles`. A later migration that re-syncs roles must merge these again (call
`merged_roles()`), or the groups lose them.
"""

from __future__ import annotations

from apps.core.roles import COMPLIANCE, FINANCE
from apps.retention.roles import merged_roles as retention_roles

EXTRA_ROLE_PERMISSIONS: dict[str, list[str]] = {
    FINANCE: [
        "commissions.view_commissionentry",
        "commissions.view_statement",
        "commissions.view_statementline",
        "commissions.view_statementrevshare",
        "commissions.view_statementplayerngr",
        "commissions.approve_statement",
        "commissions.view_clawbackcase",
        "commissions.change_clawbackcase",
        "commissions.view_clawbackproposal",
        "commissions.view_periodclose",
        "commissions.add_periodclose",
        # Finance manages commission terms (plans, tiers, lot rates, instruments, assignments).
        "commissions.view_plan",
        "commissions.add_plan",
        "commissions.change_plan",
        "commissions.view_plantier",
        "commissions.add_plantier",
        "commissions.change_plantier",
        "commissions.delete_plantier",
        "commissions.view_lotrate",
        "commissions.add_lotrate",
        "commissions.change_lotrate",
        "commissions.delete_lotrate",
        "commissions.view_instrumentgroup",
        "commissions.add_instrumentgroup",
        "commissions.change_instrumentgroup",
        "commissions.view_instrumentsymbol",
        "commissions.add_instrumentsymbol",
        "commissions.change_instrumentsymbol",
        "commissions.view_planassignment",
        "commissions.add_planassignment",
        "commissions.change_planassignment",
    ],
    COMPLIANCE: [
        # Compliance reviews clawbacks (Finance decides them) beside the player's compliance state.
        "commissions.view_clawbackcase",
        "commissions.view_clawbackproposal",
        "compliance.view_exclusionoverride",
        "compliance.add_exclusionoverride",
        "compliance.change_exclusionoverride",
        "commissions.view_commissionentry",
    ],
}


def merged_roles(base: dict[str, list[str]] | None = None) -> dict[str, list[str]]:
    merged = {name: list(perms) for name, perms in (base or retention_roles()).items()}
    for name, perms in EXTRA_ROLE_PERMISSIONS.items():
        merged.setdefault(name, [])
        merged[name] += [perm for perm in perms if perm not in merged[name]]
    return merged
