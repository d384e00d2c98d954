"""The risk rules' cost in the pipeline (issue 17 §4): receipt-to-processed at a sustained
100 events/s with the per-event rules on and off, interleaved (off, on, off, on) against the same
server, database and broker, each phase with a fresh worker started with
AFFILIATEHUB_RISK_EVENT_RULES=0 or 1.

The mix is the webhook benchmark's (registrations of new players and deposits of players
registered beforehand, half and half), every event carrying identity values as a CRM and a
payment system would: a device and an IP hash per registration (one in ten shares its device
with four others), a payment fingerprint per deposit. So each event runs the identity queries
of the duplicate-identity and self-referral rules (and velocity on first deposits); bench players
are organic, so nothing is held and no case opens (the cost of a signal is one insert and a case
update, on the rare events that raise one).

Ports: gunicorn on 18101; broker: CELERY_BROKER_URL (or the embedded one, Redis database 7).

Measured 2026-12-07 on the 2-core machine shared with other jobs (load average 4-6 throughout):
the worker could not keep 100 events/s either way, so receipt-to-processed measured the backlog
(p95 off 5.9 s / 5.6 s, on 10.7 s / 3.5 s, interleaved: noise larger than the difference). The
per-event evaluation, in-process: registration p50 2.6 ms, p95 3.7 ms; deposit p50 2.8 ms, p95
4.8 ms (two to four indexed queries). Re-run on a quiet machine for the latency figures.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson

from bench import webhook_ingest as ingest
from bench.common import (
    ROOT,
    bench_broker_url,
    bench_database_url,
    celery_worker,
    child_env,
    gunicorn,
    latency_summary,
    process,
    write_result,
)

PORT = 18101
RATE = 100


def _registration(player_id: str, n: int) -> bytes:
    now = datetime.now(UTC).isoformat()
    device = f"dev-ring-{n // 50}" if n % 10 == 0 else f"dev-{player_id}"
    return orjson.dumps(
        {
            "type": "player.registered",
            "timestamp": now,
            "data": {
                "player_id": player_id,
                "registered_at": now,
                "country": "GB",
                "brand": "bench",
                "device_hash": device,
                "ip_hash": f"ip-{player_id}",
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
                "payment_fingerprint": f"card-{player_id}",
            },
        }
    )


def _mix(tag: str, count: int, players: list[str]) -> list[bytes]:
    bodies = []
    for i in range(count):
        if i % 2:
            bodies.append(_deposit(players[(i // 2) % len(players)], f"dep-{tag}-{i}"))
        else:
            bodies.append(_registration(f"{tag}-{i}", i))
    return bodies


def _phase(secret, db_url, env, workdir, *, rules: bool, seconds: int, players, n: int) -> dict:
    worker_env = dict(env, AFFILIATEHUB_RISK_EVENT_RULES="1" if rules else "0")
    worker = celery_worker(concurrency=os.environ.get("BENCH_WORKER_CONCURRENCY", "4"))
    with process(worker, env=worker_env, log=workdir / f"worker-{n}.log"):
        time.sleep(4)  # let the worker connect before the clock starts
        load = [round(x, 2) for x in os.getloadavg()]
        bodies = _mix(f"r{n}x{int(time.time())}", RATE * seconds, players)
        sent = ingest._send_at_rate(secret, rate=RATE, seconds=seconds, bodies=bodies)
        return {
            "rules": "on" if rules else "off",
            "load_avg_at_start": load,
            **ingest._processing_latency(db_url, sent),
        }


def evaluation_cost(samples: int = 400) -> dict:
    """In a child process with the bench database: the time the per-event rules take for one
    event (registration and deposit triggers, the players' own identity values), each inside a
    transaction rolled back afterwards. The figure that stays meaningful on a busy machine."""
    import django

    django.setup()
    from django.db import transaction

    from apps.players.facts import Deposit
    from apps.players.models import PlayerIdentityValue
    from apps.risk.services import rules_evaluate_event

    timings: dict[str, list[float]] = {"registration": [], "deposit": []}
    values = list(PlayerIdentityValue.objects.select_related("player").order_by("-pk")[:samples])
    deposits = list(Deposit.objects.select_related("player").order_by("-pk")[:samples])

    class Rollback(Exception):
        pass

    def timed(trigger, **kwargs):
        started = time.perf_counter()
        try:
            with transaction.atomic():
                rules_evaluate_event(trigger=trigger, **kwargs)
                raise Rollback
        except Rollback:
            pass
        timings[trigger].append((time.perf_counter() - started) * 1000)

    for value in values:
        timed("registration", player=value.player, identity_values=[value])
    for deposit in deposits:
        own = [v for v in deposit.player.identity_values.all() if v.kind == "payment_fingerprint"]
        timed("deposit", player=deposit.player, deposit=deposit, identity_values=own)
    return {
        trigger: latency_summary(ms) | {"samples": len(ms)} for trigger, ms in timings.items() if ms
    }


def run(*, quick: bool = False) -> dict:
    seconds = 5 if quick else 20
    db_url = bench_database_url("risk")
    broker = bench_broker_url(db=7)
    env = child_env(
        db_url, CELERY_BROKER_URL=broker, AFFILIATEHUB_DATA_DIR=str(ROOT / ".data" / "bench")
    )
    print("risk rules benchmark: setting up…", flush=True)
    secret, _ = ingest._setup(db_url, env)
    ingest.DJANGO_PORT = PORT  # _send_at_rate posts to this module's server
    phases = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        with gunicorn("affiliatehub.wsgi:application", PORT, env=env, log=workdir / "django.log"):
            players = [f"pool-{i}" for i in range(300)]
            with process(
                celery_worker(concurrency=4, queues=None),
                env=env,
            ):
                time.sleep(4)
                warm = ingest._send_at_rate(
                    secret, rate=RATE, seconds=3, bodies=[_registration(p, 1) for p in players]
                )
                ingest._wait_processed(db_url, [w for w, _ in warm])
            for n, rules in enumerate((False, True, False, True)):
                phases.append(
                    _phase(
                        secret,
                        db_url,
                        env,
                        workdir,
                        rules=rules,
                        seconds=seconds,
                        players=players,
                        n=n,
                    )
                )
                print(
                    f"  rules {phases[-1]['rules']:>3}: p50 {phases[-1]['p50_ms']} ms, "
                    f"p95 {phases[-1]['p95_ms']} ms, p99 {phases[-1]['p99_ms']} ms "
                    f"({phases[-1]['processed']}/{phases[-1]['events']} processed; "
                    f"load {phases[-1]['load_avg_at_start']})",
                    flush=True,
                )
    cost = subprocess.run(
        [sys.executable, "-m", "bench.risk_rules", "--evaluation-cost"],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    evaluation = orjson.loads(cost.strip().splitlines()[-1])
    for trigger, figures in evaluation.items():
        print(
            f"  per-event evaluation, {trigger}: p50 {figures['p50_ms']} ms, p95 "
            f"{figures['p95_ms']} ms, "
            f"p99 {figures['p99_ms']} ms ({figures['samples']} events, in-process, rolled back)",
            flush=True,
        )
    result = {
        "measured_at": datetime.now(UTC).isoformat(),
        "evaluation_per_event": evaluation,
        "load_avg_after": [round(x, 2) for x in os.getloadavg()],
        "rate_per_s": RATE,
        "seconds_per_phase": seconds,
        "cpus": os.cpu_count(),
        "broker": broker,
        "phases": phases,
    }
    path = write_result("risk_rules", result)
    print(f"written to {path}")
    return result


if __name__ == "__main__" and "--evaluation-cost" in sys.argv:
    print(orjson.dumps(evaluation_cost()).decode())
