"""Staff roles as Django groups, least privilege (ISSUE 2 §5).

Each role lists permissions as "app_label.codename". `sync_roles` is called by data migrations
(apps/core/migrations) whenever a later change adds models a role should see; it creates any
permission rows that post_migrate has not created yet, so it works on a fresh database.
"""

from __future__ import annotations

FINANCE = "Finance"
RETENTION = "Retention"
COMPLIANCE = "Compliance"
INTEGRATIONS = "Integrations"


def _view(*labels: str) -> list[str]:
    return [f"{label.split('.')[0]}.view_{label.split('.')[1]}" for label in labels]


def _manage(*labels: str) -> list[str]:
    perms = []
    for label in labels:
        app, model = label.split(".")
        perms += [f"{app}.{action}_{model}" for action in ("view", "add", "change")]
    return perms


ROLES: dict[str, list[str]] = {
    # Statements, payouts and clawbacks (their models add permissions here as they land);
    # reads the affiliate and player facts those rest on, never changes them.
    FINANCE: [
        *_view("affiliates.affiliate", "affiliates.campaign", "players.player", "core.auditlog"),
        *_view(
            "players.deposit",
            "players.revenuereport",
            "players.trade",
            "players.purchase",
            "players.chargeback",
        ),  # the facts commissions are computed from
    ],
    # Segments and exports players; reads affiliates and campaigns for cohorts. No changes to
    # affiliates, no identifiers of other systems, no API keys.
    RETENTION: [
        *_view("affiliates.affiliate", "affiliates.campaign", "players.player"),
        *_view(
            "players.deposit", "players.revenuereport"
        ),  # behind dormancy, deposit and NGR bands
    ],
    # KYC, self-exclusion, licensed jurisdictions, creative approval, affiliate suspension.
    COMPLIANCE: [
        *_view(
            "affiliates.campaign",
            "affiliates.trackinglink",
            "players.player",
            "mappings.identifiermapping",
            "core.auditlog",
        ),
        "affiliates.view_affiliate",
        "affiliates.change_affiliate",  # suspend / activate
        "affiliates.view_creative",
        "affiliates.change_creative",  # approve / reject
        *_manage(
            "compliance.jurisdiction",
            "compliance.brandlicence",
            "compliance.kycrecord",
            "compliance.selfexclusion",
        ),
    ],
    # Connects systems: API keys, identifier mappings and their resolution health.
    INTEGRATIONS: [
        *_view(
            "affiliates.affiliate",
            "affiliates.trackinglink",
            "affiliates.click",
            "players.player",
            "mappings.resolutionstat",
            "core.auditlog",
        ),
        *_manage("mappings.identifiermapping", "core.apikey"),
    ],
}


def roles_for_state(apps, roles: dict[str, list[str]] | None = None) -> dict[str, list[str]]:
    """ROLES restricted to models that exist in a migration state.

    A data migration runs against the schema of its time; permissions of models (or custom
    permissions) added by later migrations are granted by the later migration that calls
    sync_roles again. Which of them exist depends on the order the migration plan applies the
    apps' migrations in, so a permission declared by another app's later migration is skipped,
    not an error.
    """
    present = set()
    for model in apps.get_models():
        opts = model._meta
        present |= {
            (opts.app_label, f"{action}_{opts.model_name}") for action in opts.default_permissions
        }
        # Custom permissions (Meta.permissions) exist from the migration that declares them.
        present |= {(opts.app_label, codename) for codename, _ in opts.permissions}
    result = {}
    for name, labels in (roles or ROLES).items():
        result[name] = [label for label in labels if tuple(label.split(".", 1)) in present]
    return result


def _create_permissions(apps) -> None:
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        # Migration-state app configs have no models module, and create_permissions skips
        # those; lend it one, then restore whatever was there (real app configs keep theirs).
        original = getattr(app_config, "models_module", None)
        app_config.models_module = original or True
        try:
            create_permissions(app_config, verbosity=0, apps=apps)
        finally:
            app_config.models_module = original


def grant_permissions(apps, roles: dict[str, list[str]]) -> None:
    """Add permissions to groups, keeping what they hold (for an app's migration that cannot see
    the roles of the apps above it, which a full `sync_roles` would drop)."""
    _create_permissions(apps)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, labels in roles.items():
        group, _ = Group.objects.get_or_create(name=name)
        for label in labels:
            app_label, codename = label.split(".", 1)
            group.permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )


def sync_roles(apps, roles: dict[str, list[str]] | None = None) -> None:
    """Make each group hold exactly its listed permissions. Usable from a migration."""
    _create_permissions(apps)

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, labels in (roles or ROLES).items():
        group, _ = Group.objects.get_or_create(name=name)
        perms = []
        for label in labels:
            app_label, codename = label.split(".", 1)
            perm = Permission.objects.filter(
                content_type__app_label=app_label, codename=codename
            ).first()
            if perm is None:
                raise LookupError(f"Role {name}: no permission {label}")
            perms.append(perm)
        group.permissions.set(perms)
