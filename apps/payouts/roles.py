"""Permissions the payouts app adds to the staff roles (least privilege).

Finance prepares, approves and works the failed queue; only Finance holds
`payouts.approve_payout`. Merged on top of the commissions roles (which merge on retention's and
apps.core.roles), so a re-sync keeps every app's permissions.
"""

from __future__ import annotations

from apps.commissions.roles import merged_roles as commissions_roles
from apps.core.roles import FINANCE, INTEGRATIONS

# Dual control (ISSUE 12): any Finance user requests, another one approves (never the requester).
DUAL_CONTROL_PERMISSIONS = [
    "payouts.view_payoutmethodchange",
    "payouts.add_payoutmethodchange",
    "payouts.change_payoutmethodchange",
    "payouts.approve_payoutmethodchange",
    "payouts.view_manualadjustment",
    "payouts.add_manualadjustment",
    "payouts.change_manualadjustment",
    "payouts.approve_manualadjustment",
    "payouts.view_payouthold",
    "payouts.change_payouthold",
    "payouts.release_payouthold",
]

EXTRA_ROLE_PERMISSIONS: dict[str, list[str]] = {
    FINANCE: [
        "payouts.view_payout",
        "payouts.change_payout",
        "payouts.approve_payout",
        "payouts.view_pendingapprovalpayout",
        "payouts.change_pendingapprovalpayout",
        "payouts.view_failedpayout",
        "payouts.change_failedpayout",
        "payouts.view_payoutrun",
        "payouts.add_payoutrun",
        "payouts.view_payoutrunline",
        "payouts.view_payoutallocation",
        "payouts.view_payoutmethod",
        "payouts.add_payoutmethod",
        "payouts.change_payoutmethod",
        "payouts.view_fxrate",
        "payouts.add_fxrate",
        *DUAL_CONTROL_PERMISSIONS,
        "integrations.view_outbounddelivery",
        "integrations.view_deliveryattempt",
    ],
    INTEGRATIONS: [
        "integrations.view_outboundendpoint",
        "integrations.add_outboundendpoint",
        "integrations.change_outboundendpoint",
        "integrations.view_outbounddelivery",
        "integrations.change_outbounddelivery",
        "integrations.view_deaddelivery",
        "integrations.change_deaddelivery",
        "integrations.view_deliveryattempt",
    ],
}


def merged_roles() -> dict[str, list[str]]:
    merged = commissions_roles()
    for name, perms in EXTRA_ROLE_PERMISSIONS.items():
        merged.setdefault(name, [])
        merged[name] += [perm for perm in perms if perm not in merged[name]]
    return merged
