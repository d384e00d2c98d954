"""Permissions monitoring adds to the staff roles, merged on top of the risk roles (which merge on
payouts, commissions, retention and core), so a later re-sync keeps every app's permissions."""

from __future__ import annotations

from apps.core.roles import FINANCE, INTEGRATIONS
from apps.risk.roles import merged_roles as risk_roles

EXTRA_ROLE_PERMISSIONS: dict[str, list[str]] = {
    # Integration engineers watch health, tune the rules and acknowledge alerts.
    INTEGRATIONS: [
        "monitoring.view_inboundhourlystat",
        "monitoring.view_alertrule",
        "monitoring.add_alertrule",
        "monitoring.change_alertrule",
        "monitoring.view_alert",
        "monitoring.change_alert",
        "integrations.view_inboundevent",
        "integrations.view_deadletterevent",
        "integrations.view_parkedevent",
        "integrations.replay_inboundevent",  # replay dead letters, re-run parked events
        "integrations.view_endpointurlchange",  # their gateway URL changes wait for Finance
        "integrations.view_integration",
        "integrations.view_reconciliationrun",
        # Where conversion data goes: the postback templates that call affiliates' trackers.
        "affiliates.view_postbacktemplate",
        "affiliates.add_postbacktemplate",
        "affiliates.change_postbacktemplate",
    ],
    FINANCE: [
        # Where payout requests go: a second person (Finance) approves a gateway URL change.
        "integrations.view_endpointurlchange",
        "integrations.approve_endpointurlchange",
    ],
}


def merged_roles() -> dict[str, list[str]]:
    merged = risk_roles()
    for name, perms in EXTRA_ROLE_PERMISSIONS.items():
        merged.setdefault(name, [])
        merged[name] += [perm for perm in perms if perm not in merged[name]]
    return merged
