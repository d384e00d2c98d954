"""The commissions app's raw SQL, each statement named here with the reason it is SQL (issue 14
§4); the services run them. Table names are the models' (fixed), values are always parameters.

- `PLAYER_NGR_SELECT`: per-player NGR of a period, gated by compliance, as the period close
  computes it; `one_player_ngr_rows` runs it for one player so a restatement counts revenue
  exactly as the close did. Time-zone bucketing, plan-version ranges and the gate are one
  statement there.
- `close_player_ngr`: the period close's per-player NGR, kept in a temporary table for the
  close's transaction and read as groups, suppressed rows and overrides used;
  `statement_player_ngr_insert` copies its rows to the statements and drops it.
- `entries_approve_past_hold`: the close approves the lines whose hold ended in two UPDATEs.
- `jit_off_for_transaction`: the close's statements run without JIT compilation.
"""

from __future__ import annotations

import datetime as dt

from django.db import connection

from apps.compliance.gates import REVSHARE_GATED_DAYS_SQL
from apps.core.db import fetch_all

# Why SQL: per-player NGR of a period under the plan assigned on each report's day, split by the
# compliance gate into what earns and what is suppressed.
#
# Aggregate first, then join (PERFORMANCE.md): the revenue rows are summed per player, currency
# and assignment segment without any join, which PostgreSQL runs as a parallel scan with partial
# aggregates; only the (about one per player) sums are joined to players, plan assignments and
# plans. A segment is a stretch of the period between two plan-assignment boundaries
# (`%(bounds)s`, the valid_from / valid_to dates strictly inside the period, sorted):
# width_bucket() numbers it, and the assignment in force on its first day is in force on all of
# its days. Summing per row under a date-range join instead is not parallel and sorts 1M rows.
#
# The gate (apps.compliance.gates.REVSHARE_GATED_DAYS_SQL, `{gated}`): the few (player, day)
# pairs that earn nothing are looked up by their unique (player, date) key and their revenue is
# summed apart (`gated_segment`), then subtracted from the segment's total: what earns is the
# rest, what is suppressed is kept with its reason. The plan is the version of the assigned plan
# in force for the period (`%(plan_ids)s` -> `%(version_ids)s`, see plan_version_for_period).
PLAYER_NGR_SELECT = """
WITH per_segment AS (
    SELECT r.player_id, r.currency, width_bucket(r.date, %(bounds)s::date[]) AS segment,
           SUM(r.stakes - r.winnings) AS ggr,
           SUM(r.bonuses) AS bonuses, SUM(r.jackpot_contributions) AS jackpot,
           SUM(r.taxes) AS taxes,
           SUM(r.payment_fees) AS payment_fees, SUM(r.adjustments) AS adjustments
    FROM players_revenuereport r
    WHERE r.is_current AND r.date >= %(start)s AND r.date < %(end)s {report_filter}
    GROUP BY r.player_id, r.currency, segment
), gated_segment AS (
    SELECT r.player_id, r.currency, width_bucket(r.date, %(bounds)s::date[]) AS segment,
           SUM(r.stakes - r.winnings) AS ggr,
           SUM(r.bonuses) AS bonuses, SUM(r.jackpot_contributions) AS jackpot,
           SUM(r.taxes) AS taxes,
           SUM(r.payment_fees) AS payment_fees, SUM(r.adjustments) AS adjustments,
           string_agg(DISTINCT g.reason, '; ') AS reason, MIN(r.date) AS first_day,
           MAX(r.date) AS last_day
    FROM {gated} g
    JOIN players_revenuereport r ON r.player_id = g.player_id AND r.date = g.date AND r.is_current
    WHERE g.override_id IS NULL {report_filter}
    GROUP BY r.player_id, r.currency, segment
), split AS (
    SELECT s.player_id, s.currency, s.segment,
           s.ggr - COALESCE(x.ggr, 0) AS ggr, s.bonuses - COALESCE(x.bonuses, 0) AS bonuses,
           s.jackpot - COALESCE(x.jackpot, 0) AS jackpot, s.taxes - COALESCE(x.taxes, 0) AS taxes,
           s.payment_fees - COALESCE(x.payment_fees, 0) AS payment_fees,
           s.adjustments - COALESCE(x.adjustments, 0) AS adjustments,
           x.ggr AS x_ggr, x.bonuses AS x_bonuses, x.jackpot AS x_jackpot, x.taxes AS x_taxes,
           x.payment_fees AS x_payment_fees, x.adjustments AS x_adjustments,
           x.reason AS x_reason, x.first_day AS x_first_day, x.last_day AS x_last_day
    FROM per_segment s
    LEFT JOIN gated_segment x USING (player_id, currency, segment)
{per_player}), netted AS MATERIALIZED (
    SELECT pp.*, pl.admin_fee_percent,
           pp.ggr - (CASE WHEN pl.deduct_bonuses THEN pp.bonuses ELSE 0 END
                   + CASE WHEN pl.deduct_jackpot THEN pp.jackpot ELSE 0 END
                   + CASE WHEN pl.deduct_taxes THEN pp.taxes ELSE 0 END
                   + CASE WHEN pl.deduct_payment_fees THEN pp.payment_fees ELSE 0 END
                   + CASE WHEN pl.deduct_adjustments THEN pp.adjustments ELSE 0 END) AS net,
           pp.x_ggr - (CASE WHEN pl.deduct_bonuses THEN pp.x_bonuses ELSE 0 END
                   + CASE WHEN pl.deduct_jackpot THEN pp.x_jackpot ELSE 0 END
                   + CASE WHEN pl.deduct_taxes THEN pp.x_taxes ELSE 0 END
                   + CASE WHEN pl.deduct_payment_fees THEN pp.x_payment_fees ELSE 0 END
                   + CASE WHEN pl.deduct_adjustments THEN pp.x_adjustments ELSE 0 END) AS x_net
    FROM per_player pp JOIN commissions_plan pl ON pl.id = pp.plan_id
    WHERE pl.kind IN ('revshare', 'hybrid')
)
SELECT affiliate_id, plan_id, player_id, currency, ggr, ggr - net AS deductions,
       CASE WHEN net > 0 THEN ROUND(net * admin_fee_percent / 100, 8) ELSE 0 END AS admin_fee,
       net - CASE WHEN net > 0 THEN ROUND(net * admin_fee_percent / 100, 8) ELSE 0 END AS ngr,
       x_net - CASE WHEN x_net > 0 THEN ROUND(x_net * admin_fee_percent / 100, 8) ELSE 0 END
           AS suppressed_ngr,
       x_reason AS suppressed_reason, x_first_day AS suppressed_from, x_last_day AS suppressed_to
FROM netted
"""

# `{per_player}`: the segments of a player are summed per plan (PER_PLAYER_SEGMENTS); when no
# plan assignment starts or ends inside the period (`%(bounds)s` empty, the usual month) every
# (player, currency) has one segment and one assignment (assignments never overlap), so the
# per-player rows are the segment rows as they are (PER_PLAYER_ONE_SEGMENT): no sort and second
# GROUP BY of every player's row (about 0.3 s of the close's serial time at 100k players).
# `netted` is MATERIALIZED so its two net figures are computed once a row: inlined, each of the
# final columns that names them computed the whole CASE sum again.
PER_PLAYER_SEGMENTS = """per_player AS (
    SELECT p.affiliate_id, COALESCE(v.version_id, a.plan_id) AS plan_id, s.player_id, s.currency,
           SUM(s.ggr) AS ggr, SUM(s.bonuses) AS bonuses,
           SUM(s.jackpot) AS jackpot, SUM(s.taxes) AS taxes, SUM(s.payment_fees) AS payment_fees,
           SUM(s.adjustments) AS adjustments,
           COALESCE(SUM(s.x_ggr), 0) AS x_ggr, COALESCE(SUM(s.x_bonuses), 0) AS x_bonuses,
           COALESCE(SUM(s.x_jackpot), 0) AS x_jackpot, COALESCE(SUM(s.x_taxes), 0) AS x_taxes,
           COALESCE(SUM(s.x_payment_fees), 0) AS x_payment_fees,
           COALESCE(SUM(s.x_adjustments), 0) AS x_adjustments,
           string_agg(s.x_reason, '; ') AS x_reason, MIN(s.x_first_day) AS x_first_day,
           MAX(s.x_last_day) AS x_last_day
    FROM split s
    JOIN players_player p ON p.id = s.player_id
    CROSS JOIN LATERAL (
        SELECT CASE WHEN s.segment = 0 THEN %(start)s::date
                    ELSE (%(bounds)s::date[])[s.segment] END AS first_day
    ) seg
    JOIN commissions_planassignment a
      ON a.affiliate_id = p.affiliate_id AND a.brand = p.brand
     AND a.valid_from <= seg.first_day AND (a.valid_to IS NULL OR seg.first_day < a.valid_to)
    LEFT JOIN unnest(%(plan_ids)s::bigint[], %(version_ids)s::bigint[]) AS v(plan_id, version_id)
      ON v.plan_id = a.plan_id
    WHERE true {player_filter}
    GROUP BY p.affiliate_id, COALESCE(v.version_id, a.plan_id), s.player_id, s.currency
"""
PER_PLAYER_ONE_SEGMENT = """per_player AS (
    SELECT p.affiliate_id, COALESCE(v.version_id, a.plan_id) AS plan_id, s.player_id, s.currency,
           s.ggr, s.bonuses, s.jackpot, s.taxes, s.payment_fees, s.adjustments,
           COALESCE(s.x_ggr, 0) AS x_ggr, COALESCE(s.x_bonuses, 0) AS x_bonuses,
           COALESCE(s.x_jackpot, 0) AS x_jackpot, COALESCE(s.x_taxes, 0) AS x_taxes,
           COALESCE(s.x_payment_fees, 0) AS x_payment_fees,
           COALESCE(s.x_adjustments, 0) AS x_adjustments,
           s.x_reason, s.x_first_day, s.x_last_day
    FROM split s
    JOIN players_player p ON p.id = s.player_id
    JOIN commissions_planassignment a
      ON a.affiliate_id = p.affiliate_id AND a.brand = p.brand
     AND a.valid_from <= %(start)s::date AND (a.valid_to IS NULL OR %(start)s::date < a.valid_to)
    LEFT JOIN unnest(%(plan_ids)s::bigint[], %(version_ids)s::bigint[]) AS v(plan_id, version_id)
      ON v.plan_id = a.plan_id
    WHERE true {player_filter}
"""


def _player_ngr_select(*, report_filter: str, player_filter: str, gated: str) -> dict[bool, str]:
    """PLAYER_NGR_SELECT for each shape, keyed by one_segment (`%(bounds)s` empty)."""
    return {
        one_segment: PLAYER_NGR_SELECT.format(
            per_player="), "
            + (PER_PLAYER_ONE_SEGMENT if one_segment else PER_PLAYER_SEGMENTS).format(
                player_filter=player_filter
            ),
            report_filter=report_filter,
            gated=gated,
        )
        for one_segment in (True, False)
    }


# Why SQL: CREATE TABLE AS may run its SELECT in parallel (INSERT ... SELECT never does), and
# the close reads the per-player rows three times (groups, suppressed, statement player rows).
CLOSE_PLAYER_NGR_SQL = {
    one_segment: "CREATE TEMP TABLE close_player_ngr ON COMMIT DROP AS" + select
    for one_segment, select in _player_ngr_select(
        report_filter="", player_filter="", gated="close_gated_days"
    ).items()
}
# Why SQL: the compliance gate's refused (player, day) pairs, read by CLOSE_PLAYER_NGR_SQL.
CLOSE_GATED_DAYS_SQL = (
    "CREATE TEMP TABLE close_gated_days ON COMMIT DROP AS"
    + REVSHARE_GATED_DAYS_SQL.format(player_filter="")
)
# Why SQL: one statement sums the temp table per affiliate x plan x currency (a few rows).
CLOSE_NGR_GROUPS_SQL = """
SELECT affiliate_id, plan_id, currency, SUM(ngr), COUNT(*) FROM close_player_ngr
GROUP BY affiliate_id, plan_id, currency ORDER BY affiliate_id, plan_id, currency
"""
# Why SQL: the gate's refusals, one row per player with suppressed revenue, from the temp table.
CLOSE_SUPPRESSED_SQL = """
SELECT affiliate_id, plan_id, currency, player_id, suppressed_ngr, suppressed_reason,
       suppressed_from, suppressed_to
  FROM close_player_ngr WHERE suppressed_reason IS NOT NULL
 ORDER BY affiliate_id, plan_id, player_id
"""
# Why SQL: the overrides the gate honoured, from the temp table (audited by the close).
CLOSE_OVERRIDES_USED_SQL = """
SELECT DISTINCT override_id, player_id, date FROM close_gated_days WHERE override_id IS NOT NULL
"""
# Why SQL: one UPDATE approves every line whose hold ended, without loading the ledger rows.
APPROVE_PAST_HOLD_SQL = """
UPDATE commissions_commissionentry e
   SET status = 'approved', statement_period = %(period)s, status_changed_at = now(),
       status_reason = 'Approved at the close of ' || %(label)s
 WHERE status = 'pending' AND period <= %(period)s AND approve_after <= %(end)s
   AND (basis_id IS NULL OR kind <> 'override')
   AND NOT EXISTS (SELECT 1 FROM commissions_commissionhold h
                    WHERE h.entry_id = e.id AND h.released_at IS NULL)
"""
# Why SQL: overrides follow the line they were computed from, in one UPDATE ... FROM.
APPROVE_OVERRIDES_SQL = """
UPDATE commissions_commissionentry o
   SET status = 'approved', statement_period = %(period)s, status_changed_at = now(),
       status_reason = b.status_reason
  FROM commissions_commissionentry b
 WHERE o.basis_id = b.id AND o.kind = 'override' AND o.status = 'pending'
   AND b.status = 'approved' AND b.statement_period = %(period)s
"""
# Why SQL: the statements' per-player NGR rows go from the temp table straight into the table.
STATEMENT_PLAYER_NGR_INSERT_SQL = """
INSERT INTO commissions_statementplayerngr (statement_id, plan_id, player_id, ggr, deductions,
                                            admin_fee, ngr, suppressed_ngr)
SELECT s.id, n.plan_id, n.player_id, n.ggr, n.deductions, n.admin_fee, n.ngr, n.suppressed_ngr
  FROM close_player_ngr n
  JOIN commissions_statement s
    ON s.period = %s AND s.affiliate_id = n.affiliate_id AND s.currency = n.currency
"""

# Why SQL: a restatement counts one player's revenue by the close's own query.
_ONE_PLAYER_NGR_SQL = _player_ngr_select(
    report_filter="AND r.player_id = %(player)s AND r.currency = %(currency)s",
    player_filter="AND COALESCE(v.version_id, a.plan_id) = %(plan)s",
    gated="(" + REVSHARE_GATED_DAYS_SQL.format(player_filter="AND p.id = %(player)s") + ")",
)


def jit_off_for_transaction() -> str:
    """Turn JIT compilation off until the end of the current transaction (or savepoint) and
    return the previous setting, for `jit_restore`.

    Why: the close's two big statements cost just over jit_above_cost, and compiling them took
    longer than it saved (0.3-0.7 s of JIT emission per statement at 1M rows, EXPLAIN ANALYZE)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('jit'), set_config('jit', 'off', true)")
        return cursor.fetchone()[0]


def jit_restore(previous: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('jit', %s, true)", [previous])


def one_player_ngr_rows(params: dict) -> list[tuple]:
    """The close's per-player NGR rows for params["player"] under params["plan"] in
    params["currency"]; the other parameters are the close's (`start`, `end`, `bounds`, `tz`
    and the plan versions')."""
    return fetch_all(_ONE_PLAYER_NGR_SQL[not params["bounds"]], params)


def close_player_ngr(params: dict) -> tuple[list[tuple], list[tuple], list[tuple]]:
    """Build the close's temporary tables (`close_gated_days`, `close_player_ngr`) for a period
    and return (groups, suppressed, overrides used): one row per affiliate x plan x currency
    (small), one per player with suppressed revenue (few), and the overrides the gate honoured.
    The tables live until `statement_player_ngr_insert` or the transaction's end."""
    with connection.cursor() as cursor:
        # The caller's transaction may already hold them (closing several periods in a row).
        cursor.execute("DROP TABLE IF EXISTS close_player_ngr, close_gated_days")
        cursor.execute(CLOSE_GATED_DAYS_SQL, params)
        cursor.execute(CLOSE_PLAYER_NGR_SQL[not params["bounds"]], params)
        cursor.execute(CLOSE_NGR_GROUPS_SQL)
        groups = cursor.fetchall()
        cursor.execute(CLOSE_SUPPRESSED_SQL)
        suppressed = cursor.fetchall()
        cursor.execute(CLOSE_OVERRIDES_USED_SQL)
        return groups, suppressed, cursor.fetchall()


def statement_player_ngr_insert(period: dt.date) -> None:
    """Copy the close's per-player NGR rows to the period's statements, then drop the close's
    temporary tables."""
    with connection.cursor() as cursor:
        cursor.execute(STATEMENT_PLAYER_NGR_INSERT_SQL, [period])
        cursor.execute("DROP TABLE close_player_ngr, close_gated_days")


def entries_approve_past_hold(*, period: dt.date, end: dt.datetime) -> int:
    """Approve the pending lines whose hold ended by the period's end (not held by a live hold),
    then the overrides computed from them; returns how many lines were approved."""
    with connection.cursor() as cursor:
        cursor.execute(
            APPROVE_PAST_HOLD_SQL, {"period": period, "end": end, "label": f"{period:%Y-%m}"}
        )
        approved = cursor.rowcount
        cursor.execute(APPROVE_OVERRIDES_SQL, {"period": period})
        return approved + cursor.rowcount
