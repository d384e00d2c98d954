"""Benchmark: closing a month of 100,000 players, 1,000,000 revenue rows and 1,000,000 trades.

The rows are loaded with COPY (the trades together with the lot-rebate ledger lines real-time
accrual books for them). Then, in a fresh child process, one plain SQL aggregate reads the
same rows the close reads (revenue per affiliate + ledger per affiliate; checked after the close)
twice, the month is closed once and rolled back (warm-up, reported), the aggregate runs a third
time (it counts the best of three), then the month is closed (`statements_close`, timed with its
commit). Target (issue 18 §4): close <= 2x the aggregate, at every size; each size prints its
ratio next to it, with the load average.
Peak RSS of the close process is reported at each size (default a quarter and the full size):
it must stay flat, because the close streams and aggregates in SQL.

    python -m bench statements                          # 25,000 and 100,000 players
    python -m bench statements --quick                  # 10x smaller
    python -m bench statements --players 100000,1000000 # 1M players: 10M revenue rows, 10M
                                                        # trades (~10 GB; the load takes long)
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time

from bench.common import ROOT, bench_database_url, child_env, manage, write_result

PERIOD = dt.date(2026, 1, 1)
DAYS = 20  # revenue days and trades per player
TARGET = 2.0  # close / single aggregate (issue 18 §4)


def _copy(cursor, table: str, columns: list[str], rows) -> None:
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        batch = []
        for row in rows:
            batch.append("\t".join(row))
            if len(batch) >= 20000:
                copy.write("\n".join(batch) + "\n")
                batch.clear()
        if batch:
            copy.write("\n".join(batch) + "\n")


def generate(database_url: str, players: int) -> dict:
    """Load the data set with COPY (child process: its memory is not the close's)."""
    import psycopg

    affiliates = max(1, players // 100)
    started = time.perf_counter()
    with psycopg.connect(database_url) as conn, conn.cursor() as cur:
        now = "2026-02-01 00:00:00+00"
        cur.execute(
            """INSERT INTO affiliates_affiliate (created_at, updated_at, name, email, status,
                 payout_currency)
               SELECT now(), now(), 'Affiliate ' || g, 'a' || g || '@bench.example', 'active', 'EUR'
               FROM generate_series(1, %s) g""",
            [affiliates],
        )
        cur.execute("SELECT min(id) FROM affiliates_affiliate")
        first_affiliate = cur.fetchone()[0]
        cur.execute(
            """INSERT INTO commissions_plan (created_at, updated_at, name, kind, currency,
                 rounding_mode, cpa_amount, cpa_min_ftd, cpa_ftd_sum_24h, cpa_min_wagering,
                 cpa_kyc_required, cpa_window_days, cpa_hold_days, cpa_tier_mode,
                 clawback_window_days, revshare_percent, deduct_bonuses, deduct_jackpot,
                 deduct_taxes, deduct_payment_fees, deduct_chargebacks, deduct_adjustments,
                 admin_fee_percent, revshare_tier_basis, revshare_tier_mode, carryover, rebate_side,
                 min_hold_seconds, spread_share_percent, prop_fee_percent, prop_first_purchase_only,
                 prop_refund_window_days, override_percent, override_depth)
               VALUES (now(), now(), %s, %s, %s, 'half_even', 0, 0, false, 0, true, 30, 0, 'whole',
                 90, %s, true, true, true, true, true, true, 10, 'ngr', 'marginal', 'carry',
                 'close', 0, 0, 0, true, 14, 0, 1)
               RETURNING id""",
            ["Bench RevShare", "revshare", "EUR", 30],
        )
        revshare_plan = cur.fetchone()[0]
        cur.execute(
            """INSERT INTO commissions_plan SELECT
                 nextval(pg_get_serial_sequence('commissions_plan', 'id')), created_at, updated_at,
                 'Bench rebate', 'lot_rebate', 'USD', rounding_mode, cpa_amount, cpa_min_ftd,
                 cpa_ftd_sum_24h, cpa_min_wagering, cpa_kyc_required, cpa_window_days,
                 cpa_hold_days, cpa_tier_mode, clawback_window_days, 0, deduct_bonuses,
                 deduct_jackpot, deduct_taxes, deduct_payment_fees, deduct_chargebacks,
                 deduct_adjustments, 0, revshare_tier_basis, revshare_tier_mode, carryover,
                 rebate_side, min_hold_seconds, spread_share_percent, prop_fee_percent,
                 prop_first_purchase_only, prop_refund_window_days, override_percent, override_depth
               FROM commissions_plan WHERE id = %s RETURNING id""",
            [revshare_plan],
        )
        rebate_plan = cur.fetchone()[0]
        cur.execute(
            """INSERT INTO commissions_plantier (plan_id, applies_to, threshold, percent)
               VALUES (%s, 'revshare', 0, 25), (%s, 'revshare', 7500, 30)""",
            [revshare_plan, revshare_plan],
        )
        cur.execute(
            """INSERT INTO commissions_planassignment (created_at, updated_at, affiliate_id, brand,
                 plan_id, valid_from)
               SELECT now(), now(), a.id, b.brand, CASE b.brand WHEN 'casino' THEN %s ELSE %s END,
                 '2025-01-01'
               FROM affiliates_affiliate a CROSS JOIN (VALUES ('casino'), ('fx')) b(brand)""",
            [revshare_plan, rebate_plan],
        )
        cur.execute(
            """INSERT INTO players_player (created_at, updated_at, brand, country, registered_at,
                 affiliate_id, tracking_token, sub1, sub2, sub3, sub4, sub5, attribution_status,
                 attribution_note)
               SELECT now(), now(), CASE WHEN g %% 2 = 0 THEN 'casino' ELSE 'fx' END, 'DE',
                 '2025-12-01', %s + (g %% %s), '', '', '', '', '', '', 'attributed', 'bench'
               FROM generate_series(0, %s - 1) g""",
            [first_affiliate, affiliates, players],
        )
        cur.execute("SELECT id, affiliate_id, brand FROM players_player ORDER BY id")
        roster = cur.fetchall()
        casino = [(pid, aff) for pid, aff, brand in roster if brand == "casino"]
        fx = [(pid, aff) for pid, aff, brand in roster if brand == "fx"]
        revenue_rows = len(casino) * DAYS

        def revenue():
            for pid, _ in casino:
                for day in range(1, DAYS + 1):
                    stakes = 1000 + (pid * 7 + day * 13) % 900
                    winnings = stakes - 200 + (pid + day) % 350
                    yield (
                        "crm",
                        "\\N",
                        now,
                        str(pid),
                        f"R{pid}-{day}",
                        f"2026-01-{day:02d}",
                        "EUR",
                        str(stakes),
                        str(winnings),
                        "10",
                        "2",
                        "5",
                        "3",
                        "0",
                        f"2026-01-{day:02d} 23:00:00+00",
                        "t",
                        "\\N",
                    )

        _copy(
            cur,
            "players_revenuereport",
            [
                "system",
                "source_event_id",
                "recorded_at",
                "player_id",
                "report_id",
                "date",
                "currency",
                "stakes",
                "winnings",
                "bonuses",
                "jackpot_contributions",
                "taxes",
                "payment_fees",
                "adjustments",
                "occurred_at",
                "is_current",
                "superseded_by_id",
            ],
            revenue(),
        )

        def trades():
            deal = 0
            for pid, _ in fx:
                for n in range(1, DAYS + 1):
                    deal += 1
                    closed = f"2026-01-{n:02d} 12:00:00+00"
                    yield (
                        "mt5-live",
                        str(deal),
                        now,
                        str(pid),
                        "mt5",
                        "live-1",
                        str(deal),
                        str(pid),
                        f"P{deal}",
                        "EURUSD",
                        f"{(deal % 40 + 1) / 10:.2f}",
                        "out",
                        "12.50",
                        "0",
                        "0",
                        "\\N",
                        "USD",
                        f"2026-01-{n:02d} 10:00:00+00",
                        closed,
                    )

        _copy(
            cur,
            "players_trade",
            [
                "system",
                "source_event_id",
                "recorded_at",
                "player_id",
                "platform",
                "server",
                "deal_id",
                "login",
                "position_id",
                "symbol",
                "volume_lots",
                "entry",
                "profit",
                "swap",
                "commission",
                "price",
                "currency",
                "opened_at",
                "closed_at",
            ],
            trades(),
        )

        def ledger():
            deal = 0
            for pid, aff in fx:
                for n in range(1, DAYS + 1):
                    deal += 1
                    lots = f"{(deal % 40 + 1) / 10:.2f}"
                    amount = f"{(deal % 40 + 1) / 10 * 5:.2f}"
                    at = f"2026-01-{n:02d} 12:00:00+00"
                    yield (
                        "lot_rebate",
                        str(aff),
                        str(pid),
                        str(rebate_plan),
                        str(deal),
                        "\\N",
                        "2026-01-01",
                        at,
                        amount,
                        "USD",
                        lots,
                        "5",
                        "{}",
                        f"mt5/live-1/P{deal}",
                        "\\N",
                        "\\N",
                        "\\N",
                        "approved",
                        "",
                        at,
                        "2026-01-01",
                        at,
                    )

        _copy(
            cur,
            "commissions_commissionentry",
            [
                "kind",
                "affiliate_id",
                "player_id",
                "plan_id",
                "source_event_id",
                "idempotency_key",
                "period",
                "occurred_at",
                "amount",
                "currency",
                "quantity",
                "rate",
                "detail",
                "position_key",
                "reverses_id",
                "basis_id",
                "approve_after",
                "status",
                "status_reason",
                "status_changed_at",
                "statement_period",
                "created_at",
            ],
            ledger(),
        )
        conn.commit()
        # Statistics for every table the close or the aggregate reads, as production has them:
        # analysing only the big ones left the plan assignments without statistics, and the
        # close's planner then guessed a few hundred rows where there are a million.
        cur.execute("ANALYZE")
        conn.commit()
    return {
        "players": players,
        "affiliates": affiliates,
        "revenue_rows": revenue_rows,
        "trades": len(fx) * DAYS,
        "load_seconds": round(time.perf_counter() - started, 2),
    }


AGGREGATE_SQL = """
SELECT 'revenue', p.affiliate_id,
       SUM(r.stakes - r.winnings - r.bonuses - r.jackpot_contributions - r.taxes
           - r.payment_fees - r.adjustments), COUNT(*)
  FROM players_revenuereport r JOIN players_player p ON p.id = r.player_id
 WHERE r.is_current AND r.date >= %(start)s AND r.date < %(end)s
 GROUP BY p.affiliate_id
UNION ALL
SELECT 'ledger', affiliate_id, SUM(amount), COUNT(*)
  FROM commissions_commissionentry WHERE statement_period = %(start)s AND status = 'approved'
 GROUP BY affiliate_id
"""


def close_and_measure() -> dict:
    """In a fresh process: time the single aggregate, then the close, and report peak RSS."""
    import resource

    import django

    django.setup()
    from django.db import connection, transaction

    from apps.commissions.models import Statement, StatementLine
    from apps.commissions.services import statements_close

    params = {"start": PERIOD, "end": dt.date(2026, 2, 1)}
    aggregate_times = []

    def aggregate_run() -> list:
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(AGGREGATE_SQL, params)
            rows = cursor.fetchall()
        aggregate_times.append(time.perf_counter() - started)
        return rows

    for _ in range(2):  # the first run also warms the cache the close will use
        rows = aggregate_run()
    groups = len(rows)
    # Like with like: the aggregate reads exactly the rows the close reads (the period's current
    # revenue reports and the ledger rows its statements carry), counted here against the close.
    aggregate_rows = {
        kind: sum(count for k, _, _, count in rows if k == kind) for kind in ("revenue", "ledger")
    }
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Like the aggregate, the close gets a warm-up run (rolled back): the first query of each
    # shape in a fresh process also pays for compiling it. Both figures are reported.
    started = time.perf_counter()
    with transaction.atomic():
        statements_close(period=PERIOD)
        transaction.set_rollback(True)
    first_close_seconds = time.perf_counter() - started
    aggregate_run()  # interleaved with the close runs: the best of three, whatever the load did
    started = time.perf_counter()
    statements_close(period=PERIOD)
    close_seconds = time.perf_counter() - started
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    statements_close(period=PERIOD)  # idempotent re-run
    rerun_seconds = time.perf_counter() - started
    aggregate = min(aggregate_times)
    with connection.cursor() as cursor:
        # Revenue rows behind the players whose NGR the close summed; ledger rows its statements
        # carry, less the lines the close booked itself.
        cursor.execute(
            """SELECT (SELECT COUNT(*) FROM players_revenuereport
                        WHERE is_current AND date >= %(start)s AND date < %(end)s
                          AND player_id IN (SELECT player_id FROM commissions_statementplayerngr)),
                      (SELECT COUNT(*) FROM commissions_commissionentry
                        WHERE statement_period = %(start)s
                          AND status = 'approved' AND idempotency_key IS NULL)""",
            params,
        )
        revenue_rows, ledger_rows = cursor.fetchone()
    close_rows = {"revenue": revenue_rows, "ledger": ledger_rows}
    if close_rows != aggregate_rows:
        raise SystemExit(
            f"The aggregate read {aggregate_rows} rows, the close {close_rows}: not like with like."
        )
    return {
        "aggregate_seconds": round(aggregate, 3),
        "aggregate_runs": [round(t, 3) for t in aggregate_times],
        "aggregate_groups": groups,
        "rows_read": aggregate_rows,
        "close_seconds": round(close_seconds, 3),
        "close_vs_aggregate": round(close_seconds / aggregate, 2),
        "first_close_seconds_rolled_back": round(first_close_seconds, 3),
        "rerun_seconds": round(rerun_seconds, 3),
        "statements": Statement.objects.count(),
        "statement_lines": StatementLine.objects.count(),
        "peak_rss_mb_before_close": round(rss_before / 1024, 1),
        "peak_rss_mb": round(rss_after / 1024, 1),
    }


def _child(mode: str, env: dict[str, str], *args: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "bench.statements_close", mode, *args],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def run(*, quick: bool = False, players: list[int] | None = None) -> dict:
    full = 10_000 if quick else 100_000
    sizes = players or [full // 4, full]
    # Other work on the machine slows the close and the aggregate alike only roughly: check it.
    load_at_start = round(os.getloadavg()[0], 2)
    results = []
    for size in sizes:
        database_url = bench_database_url("statements")
        env = child_env(database_url)
        manage("migrate", "--noinput", env=env)
        loaded = _child("generate", env, database_url, str(size))
        print(f"loaded {loaded}", flush=True)
        load = round(os.getloadavg()[0], 2)
        measured = _child("close", env)
        results.append({**loaded, **measured, "load_average": load})
        print(f"statements close at {size} players: {measured}", flush=True)
        print(
            f"statements close at {size} players: {measured['close_seconds']} s vs aggregate "
            f"{measured['aggregate_seconds']} s = {measured['close_vs_aggregate']}x "
            f"(target <= {TARGET}x; load {load}); peak RSS {measured['peak_rss_mb']} MB",
            flush=True,
        )
    biggest = results[-1]
    summary = {
        "benchmark": "statements_close",
        "quick": quick,
        "sizes": results,
        "target": f"close <= {TARGET}x the single aggregate; peak RSS flat across sizes",
        "close_vs_aggregate": biggest["close_vs_aggregate"],
        "close_vs_aggregate_by_players": {
            str(r["players"]): r["close_vs_aggregate"] for r in results
        },
        "meets_target": all(r["close_vs_aggregate"] <= TARGET for r in results),
        "load_average_at_start": load_at_start,
        "rss_growth_mb": round(results[-1]["peak_rss_mb"] - results[0]["peak_rss_mb"], 1),
    }
    name = "statements_close" + ("_quick" if quick else "")
    if players:
        name += "_" + "_".join(str(n) for n in players)
    path = write_result(name, summary)
    print(f"written {path}", flush=True)
    return summary


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "generate":
        print(json.dumps(generate(sys.argv[2], int(sys.argv[3]))))
    elif mode == "close":
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "affiliatehub.settings.local")
        print(json.dumps(close_and_measure()))
    else:
        raise SystemExit(f"unknown mode {mode}")
