"""Reads over players. Filters come from apps/players/filters.py, applied here only."""

from __future__ import annotations

from collections.abc import Mapping

from django.db.models import QuerySet

from apps.core.filters import filterset_apply
from apps.players.filters import PlayerFilter
from apps.players.models import Player


def player_list(
    *,
    filters: Mapping | None = None,
    queryset: QuerySet | None = None,
    filterset_class=PlayerFilter,
) -> QuerySet:
    """Players narrowed by `filterset_class` (PlayerFilter or a subclass); FilterError on bad
    values."""
    base = Player.objects.all() if queryset is None else queryset
    return filterset_apply(filterset_class, data=filters, queryset=base)
