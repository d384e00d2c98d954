"""Webhook ingestion: Django's signed endpoint against a bare psycopg floor, same run.

1. Throughput and latency at several concurrencies, unique and duplicate webhook ids, from
   wrk in a separate process, both servers under gunicorn with 4 sync workers.
2. Receipt-to-processed latency at a sustained rate with a Celery worker running.
Targets (ISSUE 3): Django >= 35% of the floor at c16 with p99 < 75 ms; p95 receipt-to-processed
< 500 ms at 100 events/s.
"""

from __future__ import annotations

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
    child_env,
    gunicorn,
    manage,
    percentile,
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
            "data": {"player_id": player_id, "registered_at": now, "country": "GB", "brand": "bench"},
        }
    )


def _signed_requests(secret: str, count: int, tag: str) -> list[tuple[str, str, str, bytes]]:
    hook = Webhook(secret)
    now = datetime.now(UTC)
    out = []
    for i in range(count):
        msg_id = f"msg_{tag}_{i}_{uuid.uuid4().hex[:8]}"
        body = _event(f"{tag}-{i}")
        signature = hook.sign(msg_id, now, body.decode())
        out.append((msg_id, str(int(now.timestamp())), signature, body))
    return out


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
        integration_id = conn.execute("SELECT id FROM integrations_integration WHERE slug = %s", [SLUG]).fetchone()[0]
        conn.execute("CREATE TABLE bench_floor_event (LIKE integrations_inboundevent INCLUDING ALL)")
        conn.execute(
            "ALTER TABLE bench_floor_event ADD CONSTRAINT bench_floor_unique UNIQUE (integration_id, webhook_id)"
        )
    return secret, integration_id


def _throughput(secret: str, workdir: Path, *, concurrencies: list[int], seconds: int) -> list[dict]:
    rows = []
    for conns in concurrencies:
        for server, port in (("floor", FLOOR_PORT), ("django", DJANGO_PORT)):
            budget = int((2000 if server == "floor" else 1200) * seconds * 1.3)
            unique = _write_requests(_signed_requests(secret, budget, f"{server}{conns}"), workdir / f"{server}{conns}.tsv")
            result = run_wrk(f"http://127.0.0.1:{port}", unique, connections=conns, seconds=seconds)
            rows.append({"server": server, "ids": "unique", **result})
            # The same requests again: every id is now stored, so each answer is a duplicate.
            result = run_wrk(f"http://127.0.0.1:{port}", unique, connections=conns, seconds=seconds)
            rows.append({"server": server, "ids": "duplicate", **result})
    return rows


def _send_at_rate(secret: str, *, rate: int, seconds: int) -> list[str]:
    """Send `rate` signed events per second for `seconds` over 8 keep-alive connections."""
    total = rate * seconds
    requests = _signed_requests(secret, total, f"lat{int(time.time())}")
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
            conn.request("POST", PATH, body=body, headers={
                "Content-Type": "application/json", "webhook-id": msg_id,
                "webhook-timestamp": ts, "webhook-signature": sig,
            })
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
        print(f"  {len(failures)} of {total} sends were not accepted: {sorted(set(failures))}", file=sys.stderr)
    return [r[0] for r in requests]


def _processing_latency(db_url: str, ids: list[str], timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    with psycopg.connect(db_url, autocommit=True) as conn:
        while True:
            pending = conn.execute(
                "SELECT count(*) FROM integrations_inboundevent WHERE webhook_id = ANY(%s) AND processed_at IS NULL",
                [ids],
            ).fetchone()[0]
            if pending == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        latencies = sorted(
            row[0] * 1000
            for row in conn.execute(
                "SELECT EXTRACT(EPOCH FROM processed_at - received_at) FROM integrations_inboundevent "
                "WHERE webhook_id = ANY(%s) AND processed_at IS NOT NULL",
                [ids],
            )
        )
    return {
        "events": len(ids),
        "processed": len(latencies),
        "unprocessed": pending,
        "p50_ms": round(float(percentile(latencies, 50)), 1),
        "p95_ms": round(float(percentile(latencies, 95)), 1),
        "p99_ms": round(float(percentile(latencies, 99)), 1),
    }


def run(*, quick: bool = False) -> dict:
    seconds = 3 if quick else 10
    concurrencies = [16] if quick else [1, 4, 16, 64]
    db_url = bench_database_url("webhooks")
    data_dir = ROOT / ".data" / "bench"
    broker = bench_broker_url()
    env = child_env(db_url, AFFILIATEHUB_DATA_DIR=str(data_dir), **({"CELERY_BROKER_URL": broker} if broker else {}))
    print("webhook ingestion benchmark: setting up…", flush=True)
    secret, integration_id = _setup(db_url, env)
    floor_env = dict(env, BENCH_INTEGRATION_ID=str(integration_id), PYTHONPATH=str(ROOT))
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        with gunicorn("bench.floor:application", FLOOR_PORT, env=floor_env), gunicorn(
            "affiliatehub.wsgi:application", DJANGO_PORT, env=env, log=workdir / "django.log"
        ):
            rows = _throughput(secret, workdir, concurrencies=concurrencies, seconds=seconds)
            worker_cmd = [sys.executable, "-m", "celery", "-A", "affiliatehub", "worker", "-l", "warning",
                          "-Q", "celery,trades", "--concurrency", "2"]
            rate = 100
            # The throughput runs left tens of thousands of messages queued; start clean.
            purge = [sys.executable, "-m", "celery", "-A", "affiliatehub", "purge", "-f"]
            subprocess.run(purge, env=env, cwd=ROOT, check=True, capture_output=True)
            with process(worker_cmd, env=env, log=workdir / "worker.log"):
                time.sleep(3)  # let the worker connect before the clock starts
                ids = _send_at_rate(secret, rate=rate, seconds=5 if quick else 30)
                latency = {"rate_per_s": rate, **_processing_latency(db_url, ids)}
    floor16 = next((r for r in rows if r["server"] == "floor" and r["ids"] == "unique" and r["connections"] == 16), None)
    django16 = next((r for r in rows if r["server"] == "django" and r["ids"] == "unique" and r["connections"] == 16), None)
    ratio = round(django16["rps"] / floor16["rps"], 3) if floor16 and django16 else None
    result = {
        "measured_at": datetime.now(UTC).isoformat(),
        "gunicorn": "4 sync workers, both servers",
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
    print(f"\n{'server':8} {'ids':10} {'conns':>5} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'errors':>7}")
    for r in result["throughput"]:
        print(f"{r['server']:8} {r['ids']:10} {r['connections']:>5} {r['rps']:>9} {r['p50_ms']:>8} "
              f"{r['p99_ms']:>8} {r['non_2xx']:>8} {r['errors']:>7}")
    print(f"\nDjango / floor at c16 (unique ids): {result['django_vs_floor_at_c16']} (target >= 0.35)")
    lat = result["receipt_to_processed"]
    print(f"receipt -> processed at {lat['rate_per_s']}/s: p50 {lat['p50_ms']} ms, p95 {lat['p95_ms']} ms, "
          f"p99 {lat['p99_ms']} ms ({lat['processed']}/{lat['events']} processed; target p95 < 500 ms)")
    print(f"written to {path.relative_to(ROOT)}\n")
