"""Reads for the dashboard and the admin."""

from __future__ import annotations

from apps.monitoring.models import Alert


def alerts_for_dashboard(*, recent: int = 10) -> dict[str, list[Alert]]:
    """Open alerts (all of them) and the most recently resolved ones. Two queries."""
    base = Alert.objects.select_related("rule", "integration", "acknowledged_by")
    return {
        "open": list(base.filter(resolved_at__isnull=True).order_by("-fired_at", "-id")),
        "resolved": list(base.filter(resolved_at__isnull=False).order_by("-resolved_at", "-id")[:recent]),
    }
