"""System checks for the core settings: address allow-lists must parse (checked at start-up,
not at the first request that needs them), and the former nested AFFILIATEHUB dict is gone."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Warning

from apps.core import conf
from apps.core.addresses import parse_network

ALLOW_LIST_SETTINGS = ("AFFILIATEHUB_METRICS_ALLOWED_IPS", "AFFILIATEHUB_TRUSTED_PROXIES")


def check_address_allow_lists(app_configs=None, **kwargs) -> list[Error]:
    errors = []
    for name in ALLOW_LIST_SETTINGS:
        for entry in conf.items(name):
            try:
                parse_network(entry)
            except ValueError:
                errors.append(
                    Error(
                        f"{name} holds {entry!r}, which is not an IP address or CIDR network.",
                        hint="Use entries such as 127.0.0.1, 10.0.0.0/8 or 2001:db8::/32.",
                        id="core.E001",
                    )
                )
    return errors


def check_no_nested_settings(app_configs=None, **kwargs) -> list[Warning]:
    """settings.AFFILIATEHUB (a dict) is no longer read: its keys are flat AFFILIATEHUB_* names."""
    nested = getattr(settings, "AFFILIATEHUB", None)
    if not isinstance(nested, dict):
        return []
    names = ", ".join(f"AFFILIATEHUB_{key}" for key in sorted(nested))
    return [
        Warning(
            "settings.AFFILIATEHUB is ignored: AffiliateHub reads flat AFFILIATEHUB_* settings.",
            hint=f"Set {names} instead (docs/operations.md, Settings).",
            id="core.W001",
        )
    ]
