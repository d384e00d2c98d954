"""Webhook ingestion: Django's signed endpoint against a bare psycopg floor, same run.

1. Throughput and latency at several concurrencies, unique and duplicate webhook ids, from
   wrk in a separate process, both servers under gunicorn with 4 sync workers.
2. Receipt-to-processed latency at a sustained rate with a Celery worker running: a mix of
   registrations of new players and deposits of players registered before the clock starts
   (none parks), reported together and per type. "Processed" is when the handlers finished.
Targets (ISSUE 3): Django >= 35% of the floor at c16 with p99 < 75 ms; p95 receipt-to-processed
< 500 ms at 100 events/s.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from http.client import HTTPConnection
from pathlib import Path

import orjson
import psycopg
from standardwebhooks.webhooks import Webhook

from bench.common import (
    ROOT,
    bench_broker_url,
    bench_database_url,
    celery_worker,
    child_env,
    gunicorn,
    latency_summary,
    manage,
    process,
    run_wrk,
    write_result,
)

DJANGO_PORT = 18001
FLOOR_PORT = 18002
SLUG = "bench-crm"
PATH = f"/api/v1/webhooks/{SLUG}/"


def _event(player_id: str) -> bytes:
    now = datetime.now(UTC).isoformat()
    return orjson.dumps(
        {
            "type": "player.registered",
            "timestamp": now,
            "data": {
                "player_id": player_id,
                "registered_at": now,
                "country": "GB",
                "brand": "bench",
            },
        }
    )


def _deposit(player_id: str, deposit_id: str) -> bytes:
    return orjson.dumps(
        {
            "type": "deposit.created",
            "timestamp": datetime.now(UTC).isoformat(),
            "data": {
                "deposit_id": deposit_id,
                "player_id": player_id,
                "amount": "25.00",
                "currency": "EUR",
            },
        }
    )


def _signed_requests(
    secret: str, count: int, tag: str, bodies=None
) -> list[tuple[str, str, str, bytes]]:
    """Signed (id, timestamp, signature, body); registrations of new players unless bodies given."""
    hook = Webhook(secret)
    now = datetime.now(UTC)
    out = []
    for i in range(count):
        msg_id = f"msg_{tag}_{i}_{uuid.uuid4().hex[:8]}"
        body = bodies[i] if bodies is not None else _event(f"{tag}-{i}")
        signature = hook.sign(msg_id, now, body.decode())
        out.append((msg_id, str(int(now.timestamp())), signature, body))
    return out


def _mix(tag: str, count: int, players: list[str], deposit_share: float) -> list[bytes]:
    """Registrations of new players interleaved with deposits of already registered ones."""
    bodies, deposits = [], 0
    for i in range(count):
        if players and deposits < deposit_share * (i + 1):
            bodies.append(_deposit(players[deposits % len(players)], f"dep-{tag}-{i}"))
            deposits += 1
        else:
            bodies.append(_event(f"{tag}-{i}"))
    return bodies


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _write_requests(requests: list[tuple[str, str, str, bytes]], path_file: Path) -> Path:
    with open(path_file, "w") as fh:
        for msg_id, ts, sig, body in requests:
            fh.write(f"{PATH}\t{msg_id}\t{ts}\t{sig}\t{body.decode()}\n")
    return path_file


def _setup(db_url: str, env: dict[str, str]) -> tuple[str, int]:
    manage("migrate", "--no-input", "-v", "0", env=env)
    out = manage("integration_create", SLUG, "--kind", "crm", "--id-system", "crm", env=env)
    secret = re.search(r"whsec_\S+", out).group(0)
    with psycopg.connect(db_url, autocommit=True) as conn:
        integration_id = conn.execute(
            "SELECT id FROM integrations_integration WHERE slug = %s", [SLUG]
        ).fetchone()[0]
        conn.execute(
            "CREATE TABLE bench_floor_event (LIKE integrations_inboundevent INCLUDING ALL)"
        )
        conn.execute(
            "ALTER TABLE bench_floor_event ADD CONSTRAINT bench_floor_unique UNIQUE "
            "(integration_id, webhook_id)"
        )
    return secret, integration_id


def _throughput(
    secret: str, workdir: Path, *, concurrencies: list[int], seconds: int
) -> list[dict]:
    rows = []
    for conns in concurrencies:
        for server, port in (("floor", FLOOR_PORT), ("django", DJANGO_PORT)):
            budget = int((2000 if server == "floor" else 1200) * seconds * 1.3)
            unique = _write_requests(
                _signed_requests(secret, budget, f"{server}{conns}"),
                workdir / f"{server}{conns}.tsv",
            )
            result = run_wrk(f"http://127.0.0.1:{port}", unique, connections=conns, seconds=seconds)
            rows.append({"server": server, "ids": "unique", **result})
            # The same requests again: every id is now stored, so each answer is a duplicate.
            result = run_wrk(f"http://127.0.0.1:{port}", unique, connections=conns, seconds=seconds)
            rows.append({"server": server, "ids": "duplicate", **result})
    return rows


def _send_at_rate(
    secret: str, *, rate: int, seconds: int, bodies: list[bytes] | None = None
) -> list[tuple[str, str]]:
    """Send `rate` signed events per second for `seconds` over 8 keep-alive connections.

    Returns (webhook id, event type) of every event sent."""
    total = rate * seconds
    requests = _signed_requests(secret, total, f"lat{int(time.time())}", bodies)
    start = time.monotonic()
    lock = threading.Lock()
    cursor = iter(range(total))
    failures = []

    def worker():
        conn = HTTPConnection("127.0.0.1", DJANGO_PORT, timeout=10)
        while True:
            with lock:
                i = next(cursor, None)
            if i is None:
                return
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            msg_id, ts, sig, body = requests[i]
            conn.request(
                "POST",
                PATH,
                body=body,
                headers={
                    "Content-Type": "application/json",
                    "webhook-id": msg_id,
                    "webhook-timestamp": ts,
                    "webhook-signature": sig,
                },
            )
            response = conn.getresponse()
            response.read()
            if response.status != 202:
                failures.append(response.status)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        print(
            f"  {len(failures)} of {total} sends were not accepted: {sorted(set(failures))}",
            file=sys.stderr,
        )
    return [(r[0], orjson.loads(r[3])["type"]) for r in requests]


def _wait_processed(db_url: str, ids: list[str], timeout: float = 120) -> int:
    deadline = time.monotonic() + timeout
    with psycopg.connect(db_url, autocommit=True) as conn:
        while True:
            pending = conn.execute(
                "SELECT count(*) FROM integrations_inboundevent WHERE webhook_id = ANY(%s) AND "
                "processed_at IS NULL",
                [ids],
            ).fetchone()[0]
            if pending == 0 or time.monotonic() > deadline:
                return pending
            time.sleep(0.5)


def _processing_latency(db_url: str, sent: list[tuple[str, str]], timeout: float = 120) -> dict:
    ids = [webhook_id for webhook_id, _ in sent]
    pending = _wait_processed(db_url, ids, timeout)
    with psycopg.connect(db_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT event_type, status, EXTRACT(EPOCH FROM processed_at - received_at) * 1000 "
            "FROM integrations_inboundevent WHERE webhook_id = ANY(%s)",
            [ids],
        ).fetchall()
    done = [(t, float(ms)) for t, status, ms in rows if ms is not None]
    statuses: dict[str, int] = {}
    for _, status, _ in rows:
        statuses[status] = statuses.get(status, 0) + 1
    return {
        "events": len(ids),
        "unprocessed": pending,
        "statuses": statuses,
        **latency_summary([ms for _, ms in done]),
        "by_type": {
            t: latency_summary([ms for kind, ms in done if kind == t])
            for t in sorted({t for t, _ in done})
        },
    }


def _latency_phase(
    secret: str, db_url: str, env: dict[str, str], workdir: Path, *, quick: bool
) -> dict:
    """Receipt-to-processed at a sustained 100 events/s with a worker running."""
    worker_concurrency = int(os.environ.get("BENCH_WORKER_CONCURRENCY", "4"))
    deposit_share = float(os.environ.get("BENCH_DEPOSIT_SHARE", "0.5"))
    worker_cmd = celery_worker(concurrency=worker_concurrency)
    rate = 100
    # The throughput runs left tens of thousands of messages queued; start clean.
    purge = [sys.executable, "-m", "celery", "-A", "affiliatehub", "purge", "-f"]
    subprocess.run(purge, env=env, cwd=ROOT, check=True, capture_output=True)
    with process(worker_cmd, env=env, log=workdir / "worker.log"):
        time.sleep(3)  # let the worker connect before the clock starts
        # Players whose deposits the mix sends, registered (and processed) beforehand.
        players = [f"pool-{i}" for i in range(300)]
        warmup = _send_at_rate(secret, rate=rate, seconds=3, bodies=[_event(p) for p in players])
        _wait_processed(db_url, [webhook_id for webhook_id, _ in warmup])
        seconds = 5 if quick else 30
        load = _load()
        bodies = _mix(f"mix{int(time.time())}", rate * seconds, players, deposit_share)
        sent = _send_at_rate(secret, rate=rate, seconds=seconds, bodies=bodies)
        return {
            "rate_per_s": rate,
            "seconds": seconds,
            "worker_concurrency": worker_concurrency,
            "deposit_share": deposit_share,
            "load_avg_at_start": load,
            **_processing_latency(db_url, sent),
        }


def run(*, quick: bool = False) -> dict:
    seconds = 3 if quick else 10
    concurrencies = [16] if quick else [1, 4, 16, 64]
    db_url = bench_database_url("webhooks")
    data_dir = ROOT / ".data" / "bench"
    broker = bench_broker_url(db=12)  # its own queue: other benchmarks publish to database 14
    env = child_env(
        db_url,
        AFFILIATEHUB_DATA_DIR=str(data_dir),
        **({"CELERY_BROKER_URL": broker} if broker else {}),
    )
    print("webhook ingestion benchmark: setting up…", flush=True)
    secret, integration_id = _setup(db_url, env)
    floor_env = dict(env, BENCH_INTEGRATION_ID=str(integration_id), PYTHONPATH=str(ROOT))
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        with (
            gunicorn("bench.floor:application", FLOOR_PORT, env=floor_env),
            gunicorn(
                "affiliatehub.wsgi:application", DJANGO_PORT, env=env, log=workdir / "django.log"
            ),
        ):
            load_before = _load()
            phases = os.environ.get("BENCH_PHASES", "throughput,latency").split(",")
            rows = (
                _throughput(secret, workdir, concurrencies=concurrencies, seconds=seconds)
                if "throughput" in phases
                else []
            )
            latency = (
                _latency_phase(secret, db_url, env, workdir, quick=quick)
                if "latency" in phases
                else {}
            )
    floor16 = next(
        (
            r
            for r in rows
            if r["server"] == "floor" and r["ids"] == "unique" and r["connections"] == 16
        ),
        None,
    )
    django16 = next(
        (
            r
            for r in rows
            if r["server"] == "django" and r["ids"] == "unique" and r["connections"] == 16
        ),
        None,
    )
    ratio = round(django16["rps"] / floor16["rps"], 3) if floor16 and django16 else None
    result = {
        "measured_at": datetime.now(UTC).isoformat(),
        "gunicorn": "4 sync workers, both servers",
        "cpus": os.cpu_count(),
        "load_avg_before": load_before,
        "broker": broker or "embedded file-system",
        "throughput": rows,
        "django_vs_floor_at_c16": ratio,
        "receipt_to_processed": latency,
        "targets": {"ratio_min": 0.35, "p99_ms_max_at_c16": 75, "processing_p95_ms_max": 500},
    }
    path = write_result("webhook_ingest", result)
    _print(result, path)
    return result


def _print(result: dict, path: Path) -> None:
    print(
        f"\n{'server':8} {'ids':10} {'conns':>5} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'non-2xx':>8} {'errors':>7}"
    )
    for r in result["throughput"]:
        print(
            f"{r['server']:8} {r['ids']:10} {r['connections']:>5} {r['rps']:>9} {r['p50_ms']:>8} "
            f"{r['p99_ms']:>8} {r['non_2xx']:>8} {r['errors']:>7}"
        )
    print(
        f"\nDjango / floor at c16 (unique ids): {result['django_vs_floor_at_c16']} (target >= 0.35)"
    )
    lat = result["receipt_to_processed"]
    if not lat:
        print(f"written to {path.relative_to(ROOT)}\n")
        return
    print(
        f"receipt -> processed at {lat['rate_per_s']}/s for {lat['seconds']} s "
        f"(worker concurrency {lat['worker_concurrency']}, load {lat['load_avg_at_start']}):"
    )
    print(
        f"  all: p50 {lat['p50_ms']} ms, p95 {lat['p95_ms']} ms, p99 {lat['p99_ms']} ms "
        f"({lat['processed']}/{lat['events']} processed; target p95 < 500 ms)"
    )
    for event_type, summary in lat["by_type"].items():
        print(
            f"  {event_type}: p50 {summary['p50_ms']} ms, p95 {summary['p95_ms']} ms, p99 "
            f"{summary['p99_ms']} ms "
            f"({summary['processed']})"
        )
    print(f"written to {path.relative_to(ROOT)}\n")
