"""The mappings app's SQL, each statement behind a named function with its reason.

- `active_mapping_player`: the player of an active mapping. Runs for nearly every inbound
  event; compiling it through the ORM cost the worker more CPU than PostgreSQL spent on it, so
  it is plain SQL built once per process from the models' meta.
- `active_mappings_of`: the active mappings among several (system, external id) pairs, for the
  same reason (every registration asks it first).
- `resolution_counts_add`: add lookup and miss counts to the per-(system, hour, shard) counters
  in one statement (`INSERT ... ON CONFLICT DO UPDATE` with increments: no read-then-write race).

Names come from the models' meta; values are always parameters.
"""

from __future__ import annotations

import datetime as dt

from django.db import connection

from apps.core.db import fetch_all
from apps.mappings.models import IdentifierMapping, ResolutionStat
from apps.players.models import Player

_sql_cache: dict[str, str] = {}


def _resolve_sql() -> str:
    """At most one row: active mappings are unique per (system, external_id)."""
    sql = _sql_cache.get("resolve")
    if sql is None:
        columns = ", ".join(f'p."{f.column}"' for f in Player._meta.concrete_fields)
        sql = _sql_cache["resolve"] = f"""
            SELECT {columns} FROM "{IdentifierMapping._meta.db_table}" m
            JOIN "{Player._meta.db_table}" p ON p."id" = m."player_id"
            WHERE m."system" = %s AND m."external_id" = %s AND m."retired_at" IS NULL
        """  # noqa: S608 - names from the models' meta, values are parameters
    return sql


def active_mapping_player(*, system: str, external_id: str) -> Player | None:
    players = list(Player.objects.raw(_resolve_sql(), [system, external_id]))
    return players[0] if players else None


def active_mappings_of(pairs: list[tuple[str, str]]) -> list[tuple[int, str, str]]:
    """(player id, system, external id) of the active mappings among `pairs`."""
    match = " OR ".join(['(m."system" = %s AND m."external_id" = %s)'] * len(pairs))
    return fetch_all(
        'SELECT m."player_id", m."system", m."external_id" FROM '  # noqa: S608 - names from meta
        f'"{IdentifierMapping._meta.db_table}" m '
        f'WHERE m."retired_at" IS NULL AND ({match})',
        [value for pair in pairs for value in pair],
    )


def resolution_counts_add(rows: list[tuple[str, dt.datetime, int, int]], *, shard: int) -> None:
    """Add (system, hour, lookups, misses) rows to the counters of `shard`."""
    table = ResolutionStat._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} (system, hour, shard, lookups, misses)
            VALUES {", ".join(["(%s, %s, %s, %s, %s)"] * len(rows))}
            ON CONFLICT (system, hour, shard) DO UPDATE
            SET lookups = {table}.lookups + EXCLUDED.lookups, misses = {table}.misses +
                EXCLUDED.misses
            """,  # noqa: S608 - the table name is ours, values are parameters
            [
                value
                for system, hour, lookups, misses in rows
                for value in (system, hour, shard, lookups, misses)
            ],
        )
