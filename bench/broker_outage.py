"""Broker outage: webhook intake latency with the broker up, down, and back, and nothing lost.

A Valkey server of the benchmark's own is the broker of a gunicorn web server (4 sync workers)
and a Celery worker. wrk sends signed registrations at 8 connections for a while with the
broker up, then with it stopped, then with it started again; afterwards the worker (and the
outbox sweeper, run here directly) must have processed every stored event exactly once.
Target (issue 11): intake p50 while the broker is down within 2x of the p50 while it is up.
"""

from __future__ import annotations

import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from bench.common import (
    ROOT,
    bench_database_url,
    celery_worker,
    child_env,
    gunicorn,
    manage,
    process,
    run_wrk,
    write_result,
)
from bench.webhook_ingest import _setup, _signed_requests, _write_requests
from tests.brokers import StandaloneValkey

PORT = 18011


def _phase(secret: str, workdir: Path, name: str, seconds: int) -> dict:
    requests = _write_requests(
        _signed_requests(secret, 1500 * seconds, name), workdir / f"{name}.tsv"
    )
    return {
        "phase": name,
        **run_wrk(f"http://127.0.0.1:{PORT}", requests, connections=8, seconds=seconds),
    }


def _counts(db_url: str) -> dict:
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT status, count(*) FROM integrations_inboundevent GROUP BY status"
        ).fetchall()
        mappings = conn.execute("SELECT count(*) FROM mappings_identifiermapping").fetchone()[0]
    return {"events_by_status": dict(rows), "mappings": mappings}


def run(*, quick: bool = False) -> dict:
    seconds = 5 if quick else 15
    db_url = bench_database_url("outage")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        broker = StandaloneValkey(workdir)
        broker.start()
        env = child_env(
            db_url,
            CELERY_BROKER_URL=broker.url,
            AFFILIATEHUB_DATA_DIR=str(ROOT / ".data" / "bench"),
        )
        print("broker outage benchmark: setting up…", flush=True)
        secret, _ = _setup(db_url, env)
        load_start = [round(x, 2) for x in os.getloadavg()]
        worker = celery_worker(concurrency=2, queues="celery", quiet=True)
        with (
            gunicorn("affiliatehub.wsgi:application", PORT, env=env, log=workdir / "web.log"),
            process(worker, env=env, log=workdir / "worker.log"),
        ):
            time.sleep(3)
            _phase(
                secret, workdir, "warmup", 3
            )  # workers' first requests (imports, connections) are not "up"
            phases = [_phase(secret, workdir, "up", seconds)]
            broker.stop()
            phases.append(_phase(secret, workdir, "down", seconds))
            broker.start()
            time.sleep(3)  # the per-process backoff ends; publishes go through again
            phases.append(_phase(secret, workdir, "back", seconds))
            # The outbox sweeper (beat runs it every 30 s) enqueues what waited through the outage.
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                manage(
                    "shell",
                    "-c",
                    "from apps.integrations.inbound.services import inbound_events_sweep as s; "
                    "from django.utils import timezone as t; import datetime as d; "
                    "s(now=t.now() + d.timedelta(minutes=2))",
                    env=env,
                )
                counts = _counts(db_url)
                if set(counts["events_by_status"]) <= {"processed"}:
                    break
                time.sleep(5)
        broker.stop()
    stored = sum(counts["events_by_status"].values())
    up, down = phases[0], phases[1]
    result = {
        "measured_at": datetime.now(UTC).isoformat(),
        "load_avg_at_start": load_start,
        "phases": phases,
        "p50_down_over_up": round(down["p50_ms"] / up["p50_ms"], 2) if up["p50_ms"] else None,
        "events_stored": stored,
        "accepted_202": sum(p["requests"] - p["non_2xx"] for p in phases),
        "after": counts,
        "exactly_once": counts["events_by_status"] == {"processed": stored}
        and counts["mappings"] == stored,
        "target": "p50 down / up <= 2; every event processed once",
    }
    path = write_result("broker_outage", result)
    for p in phases:
        print(
            f"  broker {p['phase']:5}: {p['rps']:>7} req/s  p50 {p['p50_ms']} ms  p99 "
            f"{p['p99_ms']} ms  "
            f"non-2xx {p['non_2xx']}  errors {p['errors']}"
        )
    print(
        f"  p50 down / up: {result['p50_down_over_up']} (target <= 2); stored {stored}; after: "
        f"{counts}; "
        f"exactly once: {result['exactly_once']}"
    )
    print(f"written to {path.relative_to(ROOT)}\n", flush=True)
    return result
