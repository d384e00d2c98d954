"""Reads on identifier mappings and resolution statistics."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Sum

from apps.mappings import sql
from apps.mappings.models import IdentifierMapping, ResolutionStat
from apps.players.models import Player


def identifier_is_mapped(*, system: str, external_id: str) -> bool:
    """Whether an active mapping holds the identifier now (not counted as a lookup, unlike
    `resolve_player`): the re-check of a park, under the park lock
    (apps/integrations/inbound/parking.py)."""
    return bool(sql.active_mappings_of([(system, external_id)]))


def player_identifiers(*, player: Player) -> dict[str, list[str]]:
    """The player's non-retired identifiers, by system (a player may hold several logins)."""
    result: dict[str, list[str]] = {}
    rows = (
        IdentifierMapping.objects.filter(player=player, retired_at__isnull=True)
        .order_by("system", "created_at", "pk")
        .values_list("system", "external_id")
    )
    for system, external_id in rows:
        result.setdefault(system, []).append(external_id)
    return result


def resolution_miss_rates(*, since: datetime, until: datetime | None = None) -> list[dict]:
    """Per identifier system: lookups, misses and miss rate (0-1) for hours in [since, until)."""
    stats = ResolutionStat.objects.filter(hour__gte=since)
    if until is not None:
        stats = stats.filter(hour__lt=until)
    rows = (
        stats.values("system")
        .annotate(lookups=Sum("lookups"), misses=Sum("misses"))
        .order_by("system")
    )
    return [
        {
            "system": row["system"],
            "lookups": row["lookups"],
            "misses": row["misses"],
            "miss_rate": (row["misses"] / row["lookups"]) if row["lookups"] else 0.0,
        }
        for row in rows
    ]
