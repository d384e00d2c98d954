"""Processing throughput: events a Celery worker drains per CPU-second, one message per event
against batch claiming, interleaved in one run (issue 18 §3).

Each round stores N events through the webhook's own store call (`inbound_event_store`, one
event per transaction, its after-commit publish included) while no worker runs, so the queue
holds what intake publishes: one message per event (AFFILIATEHUB_INBOUND_CLAIM_BATCH=0) or the
drain wake-ups of batch claiming (the default). Then one worker process starts
(`--concurrency 1`, prefork: the pool child and its parent both counted) and drains them. The
mix is half registrations of new players, half deposits of players registered (and processed)
before the round, several per player so per-player order matters.

Reported per round: events/s of wall clock (first to last processed_at), events per worker
CPU-second (user + system time of the worker's processes from /proc, measured from the
moment the worker is idle to the moment the last event is processed), and the load average:
other jobs share this machine's cores, so the CPU figure is the one to compare. Modes
alternate (A B A B ...), every round is printed, and the verdict compares medians.

python -m bench throughput              # 4 rounds per mode of 4,000 events
python -m bench throughput --quick      # 1 round per mode of 1,000 events
BENCH_THROUGHPUT_EVENTS=10000 BENCH_THROUGHPUT_ROUNDS=3 python -m bench throughput
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime

import psutil
import psycopg

from bench.common import (
    ROOT,
    bench_broker_url,
    bench_database_url,
    celery_worker,
    child_env,
    manage,
    process,
)
from bench.common import write_result as _write_result

SLUG = "bench-throughput"
MODES_ALL = {"per-event": "0", "batch": "100"}
MODES = {
    mode: MODES_ALL[mode]
    for mode in os.environ.get("BENCH_THROUGHPUT_MODES", ",".join(MODES_ALL)).split(",")
}
POOL_PLAYERS = 400


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# --------------------------------------------------------------------------------------------
# Children (run with Django set up)


def _django() -> None:
    import django

    django.setup()


def _registration(player_id: str, now: str) -> dict:
    return {
        "type": "player.registered",
        "timestamp": now,
        "data": {"player_id": player_id, "registered_at": now, "country": "GB", "brand": "bench"},
    }


def _deposit(player_id: str, deposit_id: str, amount: str, now: str) -> dict:
    return {
        "type": "deposit.created",
        "timestamp": now,
        "data": {
            "deposit_id": deposit_id,
            "player_id": player_id,
            "amount": amount,
            "currency": "EUR",
        },
    }


def _store(envelopes: list[dict], tag: str) -> list[int]:
    """Store each envelope as the webhook view does: one event per transaction, published
    after commit by whatever path the current settings select."""
    import hashlib

    import orjson
    from django.db import transaction

    from apps.integrations.inbound import services
    from apps.integrations.models import Integration

    integration = Integration.objects.get(slug=SLUG)
    ids = []
    for n, envelope in enumerate(envelopes):
        body = orjson.dumps(envelope)
        incoming = services.incoming_event(
            integration_kind=integration.kind,
            webhook_id=f"{tag}-{n}",
            envelope=envelope,
            body_hash=hashlib.sha256(body).hexdigest(),
            payload_json=body.decode(),
        )
        with transaction.atomic():
            result = services.inbound_event_store(
                integration_id=integration.pk, event=incoming, source="webhook"
            )
        ids.append(result.event_id)
    return ids


def setup_child() -> dict:
    """The integration and the pool of players whose deposits the rounds send (processed here,
    in process, so no message is left queued)."""
    _django()
    from unittest import mock

    from apps.integrations.inbound import dispatch, services
    from apps.integrations.models import Integration

    Integration.objects.create(slug=SLUG, name=SLUG, kind="crm", id_system="crm")
    now = datetime.now(UTC).isoformat()
    with mock.patch.object(dispatch, "enqueue_events"):
        ids = _store([_registration(f"pool-{i}", now) for i in range(POOL_PLAYERS)], "pool")
    outcomes = services.inbound_events_process_sequence(event_ids=ids)
    return {"pool_players": POOL_PLAYERS, "outcomes": outcomes}


def load_child(tag: str, count: int) -> dict:
    """N events of the mix, stored and published (the worker is not running yet)."""
    _django()
    now = datetime.now(UTC).isoformat()
    envelopes = []
    for n in range(count):
        if n % 2:
            player = f"pool-{(n // 2) % POOL_PLAYERS}"
            envelopes.append(_deposit(player, f"{tag}-dep-{n}", f"{10 + n % 7}.00", now))
        else:
            envelopes.append(_registration(f"{tag}-new-{n}", now))
    started = time.perf_counter()
    ids = _store(envelopes, tag)
    return {"events": len(ids), "store_seconds": round(time.perf_counter() - started, 2)}


# --------------------------------------------------------------------------------------------
# Driver


def _child(env: dict[str, str], *args: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "bench.throughput", *args],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def _cpu_seconds(root: psutil.Process) -> tuple[float, float]:
    """(the worker's main process, its pool processes): user + system CPU seconds so far."""
    main = pool = 0.0
    for proc in [root, *root.children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        if proc.pid == root.pid:
            main += times.user + times.system
        else:
            pool += times.user + times.system
    return main, pool


def _pending(db_url: str, tag: str) -> int:
    with psycopg.connect(db_url, autocommit=True) as conn:
        return conn.execute(
            "SELECT count(*) FROM integrations_inboundevent WHERE webhook_id LIKE %s "
            "AND status IN ('received', 'failed')",
            [f"{tag}-%"],
        ).fetchone()[0]


def _round_result(db_url: str, tag: str) -> dict:
    with psycopg.connect(db_url, autocommit=True) as conn:
        statuses = dict(
            conn.execute(
                "SELECT status, count(*) FROM integrations_inboundevent WHERE webhook_id LIKE %s "
                "GROUP BY status",
                [f"{tag}-%"],
            ).fetchall()
        )
        first, last = conn.execute(
            "SELECT min(processed_at), max(processed_at) FROM integrations_inboundevent "
            "WHERE webhook_id LIKE %s",
            [f"{tag}-%"],
        ).fetchone()
    return {"statuses": statuses, "first": first, "last": last}


def _empty_queues(broker: str) -> None:
    """Nothing from an earlier round (or run) may be waiting: the queues and the drains'
    pending marks go (the benchmark's own Redis database)."""
    import redis

    from apps.integrations.inbound import dispatch

    client = redis.Redis.from_url(broker)
    client.delete(
        "celery",
        "trades",
        "unacked",
        "unacked_index",
        dispatch._drain_key(dispatch.DRAIN_TASK),
        dispatch._drain_key(dispatch.DRAIN_TRADES_TASK),
    )


def _drain(env: dict[str, str], db_url: str, tag: str, count: int, workdir) -> dict:
    cmd = celery_worker(concurrency=1, quiet=True)
    load = _load()
    started = time.monotonic()
    with process(cmd, env=env, log=workdir / f"worker-{tag}.log") as proc:
        root = psutil.Process(proc.pid)
        # The worker's start-up (imports, forking the pool) is not processing: count CPU from
        # the moment its pool child exists and the first events are processed.
        while not root.children() and time.monotonic() - started < 60:
            time.sleep(0.05)
        cpu_start = _cpu_seconds(root)
        clock_start = time.monotonic()
        deadline = clock_start + 600
        while _pending(db_url, tag) and time.monotonic() < deadline:
            time.sleep(0.1)
        cpu_end = _cpu_seconds(root)
        wall = time.monotonic() - clock_start
        # Warm shutdown of the main process alone: the pool finishes what it runs (a drain
        # finds nothing left), so no message is left behind for the next round.
        proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=60)
    main_cpu, pool_cpu = (end - start for end, start in zip(cpu_end, cpu_start, strict=True))
    cpu = main_cpu + pool_cpu
    summary = _round_result(db_url, tag)
    processed = summary["statuses"].get("processed", 0)
    span = (summary["last"] - summary["first"]).total_seconds() if summary["last"] else 0.0
    return {
        "load_avg": load,
        "events": count,
        "statuses": summary["statuses"],
        "processed_span_s": round(span, 2),
        "events_per_s": round(processed / span, 1) if span else None,
        "worker_cpu_s": round(cpu, 2),
        "main_process_cpu_s": round(main_cpu, 2),
        "pool_cpu_s": round(pool_cpu, 2),
        "events_per_cpu_s": round(processed / cpu, 1) if cpu else None,
        "wait_s": round(wall, 2),
    }


def run(*, quick: bool = False) -> dict:
    count = int(os.environ.get("BENCH_THROUGHPUT_EVENTS", 1000 if quick else 4000))
    rounds = int(os.environ.get("BENCH_THROUGHPUT_ROUNDS", 1 if quick else 4))
    db_url = bench_database_url("throughput")
    broker = bench_broker_url(db=9)  # a queue of its own
    if not broker.startswith("redis://"):
        raise SystemExit("The throughput benchmark needs a Redis broker (CELERY_BROKER_URL).")
    base_env = child_env(
        db_url,
        AFFILIATEHUB_DATA_DIR=str(ROOT / ".data" / "bench"),
        CELERY_BROKER_URL=broker,
    )
    print(f"processing throughput: {rounds} round(s) per mode of {count} events", flush=True)
    manage("migrate", "--no-input", "-v", "0", env=base_env)
    subprocess.run(
        [sys.executable, "-m", "celery", "-A", "affiliatehub", "purge", "-f"],
        env=base_env,
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    print(f"  setup: {_child(base_env, 'setup')}", flush=True)
    rows = []
    logs = ROOT / ".data" / "bench-throughput"  # the workers' logs, kept for a look
    logs.mkdir(parents=True, exist_ok=True)
    if True:
        for index in range(rounds):
            for mode, batch in MODES.items():
                env = dict(base_env, AFFILIATEHUB_INBOUND_CLAIM_BATCH=batch)
                tag = f"r{index}{mode[0]}{int(time.time())}"
                _empty_queues(env["CELERY_BROKER_URL"])
                loaded = _child(env, "load", tag, str(count))
                row = {"mode": mode, "round": index + 1, **_drain(env, db_url, tag, count, logs)}
                row["store_seconds"] = loaded["store_seconds"]
                rows.append(row)
                print(
                    f"  {mode:9} round {index + 1}: {row['events_per_s']} events/s wall, "
                    f"{row['events_per_cpu_s']} events per worker CPU-s "
                    f"({row['worker_cpu_s']} CPU-s: main {row['main_process_cpu_s']}, pool "
                    f"{row['pool_cpu_s']}; span {row['processed_span_s']} s), "
                    f"load {row['load_avg']}, {row['statuses']}",
                    flush=True,
                )
    medians = {
        mode: {
            "events_per_s": statistics.median(
                r["events_per_s"] or 0 for r in rows if r["mode"] == mode
            ),
            "events_per_cpu_s": statistics.median(
                r["events_per_cpu_s"] or 0 for r in rows if r["mode"] == mode
            ),
        }
        for mode in MODES
    }
    base = medians.get("per-event", {"events_per_s": 0, "events_per_cpu_s": 0})
    new = medians.get("batch", {"events_per_s": 0, "events_per_cpu_s": 0})
    result = {
        "measured_at": datetime.now(UTC).isoformat(),
        "cpus": os.cpu_count(),
        "events_per_round": count,
        "rounds": rows,
        "medians": medians,
        "cpu_ratio": round(new["events_per_cpu_s"] / base["events_per_cpu_s"], 2)
        if base["events_per_cpu_s"]
        else None,
        "wall_ratio": round(new["events_per_s"] / base["events_per_s"], 2)
        if base["events_per_s"]
        else None,
        "target_cpu_ratio": 2.0,
    }
    path = _write_result("throughput", result)
    print(
        f"  medians: per-event {base}, batch {new}; per worker CPU-s {result['cpu_ratio']}x, "
        f"wall {result['wall_ratio']}x (target 2x per CPU)\n  written to {path.relative_to(ROOT)}",
        flush=True,
    )
    return result


def main(argv: list[str]) -> None:
    command = argv[0]
    if command == "setup":
        result = setup_child()
    elif command == "load":
        result = load_child(argv[1], int(argv[2]))
    else:
        raise SystemExit(f"unknown command {command}")
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    main(sys.argv[1:])
