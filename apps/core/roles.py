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
    FINANCE: [
        *_view("affiliates.affiliate", "affiliates.campaign", "players.player", "core.auditlog"),
    ],
    RETENTION: [
        *_view("affiliates.affiliate", "affiliates.campaign", "players.player"),
    ],
    COMPLIANCE: [
        *_view("affiliates.affiliate", "players.player", "mappings.identifiermapping", "core.auditlog"),
        *_manage("affiliates.creative", "compliance.jurisdiction", "compliance.brandlicence",
                 "compliance.kycrecord", "compliance.selfexclusion"),
    ],
    INTEGRATIONS: [
        *_view("affiliates.affiliate", "players.player", "core.auditlog"),
        *_manage("mappings.identifiermapping", "core.apikey"),
    ],
}


def sync_roles(apps, roles: dict[str, list[str]] | None = None) -> None:
    """Make each group hold exactly its listed permissions. Usable from a migration."""
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0, apps=apps)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, labels in (roles or ROLES).items():
        group, _ = Group.objects.get_or_create(name=name)
        perms = []
        for label in labels:
            app_label, codename = label.split(".", 1)
            perm = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
            if perm is None:
                raise LookupError(f"Role {name}: no permission {label}")
            perms.append(perm)
        group.permissions.set(perms)
