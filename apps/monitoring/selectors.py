"""Reads for the dashboard and the admin."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Q, Sum
from django.db.models.functions import Coalesce

from apps.integrations.models import PublishFailureStat
from apps.monitoring.models import Alert


def alerts_for_dashboard(*, recent: int = 10) -> dict[str, list[Alert]]:
    """Open alerts (all of them) and the most recently resolved ones. Two queries."""
    base = Alert.objects.select_related("rule", "integration", "acknowledged_by")
    return {
        "open": list(base.filter(resolved_at__isnull=True).order_by("-fired_at", "-id")),
        "resolved": list(
            base.filter(resolved_at__isnull=False).order_by("-resolved_at", "-id")[:recent]
        ),
    }


@dataclass(frozen=True)
class RuntimeHealth:
    """The processes' own health: publishes the broker did not take, and (under `make run`)
    how often the supervisor had to restart a process."""

    publish_failures: int
    publish_failures_total: int
    restarts: dict[str, int] | None  # None when not supervised by `make run`

    @property
    def restarts_total(self) -> int:
        return sum((self.restarts or {}).values())


def runtime_health(*, since: dt.datetime) -> RuntimeHealth:
    from affiliatehub.supervisor import read_state

    totals = PublishFailureStat.objects.aggregate(
        window=Coalesce(
            Sum("failures", filter=Q(hour__gte=since.replace(minute=0, second=0, microsecond=0))), 0
        ),
        total=Coalesce(Sum("failures"), 0),
    )
    state = read_state()
    restarts = {name: child.restarts for name, child in state.children.items()} if state else None
    return RuntimeHealth(
        publish_failures=totals["window"], publish_failures_total=totals["total"], restarts=restarts
    )
