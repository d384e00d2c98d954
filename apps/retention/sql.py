"""The retention app's SQL: statements the ORM cannot say, each behind a named function.

- `deposit_cohorts`: players by registration month and affiliate with depositors, churned and
  reactivated counts in one query (the gaps between consecutive deposits need the `lag()` window
  function inside an aggregate, which the ORM cannot nest).

Table names come from the models' meta; values are always parameters.
"""

from __future__ import annotations

import datetime as dt

from apps.core.db import fetch_all
from apps.core.replica import read_connection
from apps.players.models import Deposit, Player

_DEPOSIT_COHORTS_SQL = f"""
    WITH gaps AS (
        SELECT player_id, occurred_at,
               occurred_at - lag(occurred_at) OVER (PARTITION BY player_id ORDER BY occurred_at) AS
                   gap
        FROM {Deposit._meta.db_table}
    ), per_player AS (
        SELECT player_id, max(occurred_at) AS last_at, bool_or(gap >= %(gap)s) AS reactivated
        FROM gaps GROUP BY player_id
    )
    SELECT date_trunc('month', p.registered_at AT TIME ZONE 'UTC')::date AS month,
           p.affiliate_id,
           count(*) AS players,
           count(pp.player_id) AS depositors,
           count(*) FILTER (WHERE pp.last_at < %(cutoff)s) AS churned,
           count(*) FILTER (WHERE pp.reactivated) AS reactivated
    FROM {Player._meta.db_table} p LEFT JOIN per_player pp ON pp.player_id = p.id
    WHERE p.registered_at >= %(since)s
    GROUP BY 1, 2 ORDER BY 1, 2
"""  # noqa: S608 - table names are ours; values are parameters


def deposit_cohorts(*, gap: dt.timedelta, cutoff: dt.datetime, since: dt.datetime) -> list[tuple]:
    """(month, affiliate id or None, players, depositors, churned, reactivated) for players
    registered since `since`: churned = last deposit before `cutoff`; reactivated = two
    consecutive deposits at least `gap` apart."""
    # The cohort report reads from the replica when one is configured (apps.core.replica).
    return fetch_all(
        _DEPOSIT_COHORTS_SQL,
        {"gap": gap, "cutoff": cutoff, "since": since},
        on=read_connection(),
    )
