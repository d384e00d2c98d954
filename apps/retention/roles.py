"""Permissions retention adds to the staff roles, merged on top of apps.core.roles; the
commissions roles merge on these (and payouts, risk and monitoring on those), so a later re-sync
keeps every app's permissions."""

from __future__ import annotations

from apps.core.roles import FINANCE, RETENTION, ROLES

EXTRA_ROLE_PERMISSIONS: dict[str, list[str]] = {
    # The retention player list and its exports (the export itself is limited to these roles),
    # the saved segments and the cohort report.
    RETENTION: [
        "retention.view_retentionplayer",
        "retention.view_retentionsegment",
        "retention.add_retentionsegment",
        "retention.change_retentionsegment",
        "retention.delete_retentionsegment",
    ],
    FINANCE: ["retention.view_retentionplayer"],
}


def merged_roles() -> dict[str, list[str]]:
    merged = {name: list(perms) for name, perms in ROLES.items()}
    for name, perms in EXTRA_ROLE_PERMISSIONS.items():
        merged.setdefault(name, [])
        merged[name] += [perm for perm in perms if perm not in merged[name]]
    return merged
