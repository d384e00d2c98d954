"""The commissions app's SQL, each statement behind a named function with its reason.

- `one_player_ngr_rows`: one player's NGR for a closed period under a plan, by the same query
  the period close runs for every player (`services/statements.py` `PLAYER_NGR_SELECT`, with
  the compliance gate's suppressed days), so a restatement counts revenue exactly as the close
  did. Time-zone bucketing, plan-version ranges and the gate are one statement there.

Table names come from the models' meta; values are always parameters.
"""

from __future__ import annotations

from apps.commissions.services.statements import PLAYER_NGR_SELECT
from apps.compliance.gates import REVSHARE_GATED_DAYS_SQL
from apps.core.db import fetch_all

_ONE_PLAYER_NGR_SQL = PLAYER_NGR_SELECT.format(
    report_filter="AND r.player_id = %(player)s AND r.currency = %(currency)s",
    player_filter="AND COALESCE(v.version_id, a.plan_id) = %(plan)s",
    gated="(" + REVSHARE_GATED_DAYS_SQL.format(player_filter="AND p.id = %(player)s") + ")",
)


def one_player_ngr_rows(params: dict) -> list[tuple]:
    """The close's per-player NGR rows for params["player"] under params["plan"] in
    params["currency"]; the other parameters are the close's (`start`, `end`, `bounds`, `tz`
    and the plan versions')."""
    return fetch_all(_ONE_PLAYER_NGR_SQL, params)
