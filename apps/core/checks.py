"""System checks for the core settings: address allow-lists must parse (checked at start-up,
not at the first request that needs them)."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error

from apps.core.addresses import parse_network

ALLOW_LIST_SETTINGS = ("AFFILIATEHUB_METRICS_ALLOWED_IPS", "AFFILIATEHUB_TRUSTED_PROXIES")


def check_address_allow_lists(app_configs=None, **kwargs) -> list[Error]:
    errors = []
    for name in ALLOW_LIST_SETTINGS:
        for entry in getattr(settings, name, []):
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
