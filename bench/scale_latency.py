"""Receipt-to-processed at a sustained rate with two worker processes (issue 18 §2).

Two Celery workers (`--concurrency 1` each: two processing processes, the two-core layout) run
while signed webhooks arrive at RATE events/s for a fixed time over keep-alive connections, the
mix the loaded events carry: registrations of new players, and deposits, daily revenue reports
(CRM) and closed deals (trading) of players already in the tables, picked at random over all of
them so every lookup goes through the full indexes. Latency is `processed_at - received_at` of
the stored events: from the moment the view stamped the receipt to the moment the handlers were
done.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import random
import subprocess
import sys
import threading
import time
from http.client import HTTPConnection
from pathlib import Path

import orjson
import psutil
import psycopg
from standardwebhooks.webhooks import Webhook

from bench.common import (
    ROOT,
    CpuMeter,
    celery_worker,
    latency_summary,
    listening_processes,
    process,
    process_tree,
    server_processes,
)
from bench.scale_load import crm_id, trading_login

RATE = 200
WORKERS = 2
SENDERS = 8
REPORT_DAYS = 60  # revenue reports are for one of the last REPORT_DAYS days
_days_used: dict[int, int] = {}  # player -> revenue reports sent for it (across the run's phases)


def _bodies(tag: str, count: int, players: range) -> list[tuple[str, bytes]]:
    """(integration: "crm" or "trading", body) of `count` events of the mix."""
    rng = random.Random(tag)
    now = dt.datetime.now(dt.UTC)
    out = []
    for i in range(count):
        at = (now + dt.timedelta(seconds=i / RATE)).isoformat()
        k = rng.choice(players)
        slot = i % 10
        if slot == 0:
            kind, data = "player.registered", {"player_id": f"{tag}-new-{i}", "registered_at": at}
            data.update(country="GB", brand="bench")
        elif slot <= 3:
            kind = "deposit.created"
            data = {"deposit_id": f"{tag}-D-{i}", "player_id": crm_id(k), "amount": "25.00"}
            data["currency"] = "EUR"
        elif slot <= 7:
            # A recent day of its own for each of the player's reports (none restates another
            # the run sent), in months whose partitions exist, as a CRM's daily report is.
            # (Days 2020-01-01 + i, used before 2026-12-08, spread 12,000 reports over 33 years:
            # every month needed a new partition, and the run measured that DDL, not processing.)
            used = _days_used.get(k, 0)
            _days_used[k] = used + 1
            day = now.date() - dt.timedelta(days=1 + used % REPORT_DAYS)
            kind = "revenue.reported"
            data = {"report_id": f"{tag}-R-{i}", "player_id": crm_id(k), "date": day.isoformat()}
            data.update(currency="EUR", stakes="300.00", winnings="280.00")
        else:
            kind = "trade.closed"
            data = {
                "deal_id": f"{tag}-T-{i}",
                "login": trading_login(k),
                "platform": "mt5",
                "server": "bench-live",
                "position_id": f"{tag}-POS-{i}",
                "symbol": "EURUSD",
                "volume_lots": "1.00",
                "entry": "in",
                "profit": "0.00",
                "currency": "USD",
                "closed_at": at,
            }
        integration = "trading" if kind == "trade.closed" else "crm"
        out.append((integration, orjson.dumps({"type": kind, "timestamp": at, "data": data})))
    return out


def _send(
    port: int, hooks: dict[str, tuple[str, str]], tag: str, bodies: list[tuple[str, bytes]]
) -> list[int]:
    """POST every body at RATE/s (signed as its integration) over SENDERS connections; returns
    the statuses that were not 202."""
    signers = {name: (path, Webhook(secret)) for name, (path, secret) in hooks.items()}
    now = dt.datetime.now(dt.UTC)
    requests = []
    for i, (integration, body) in enumerate(bodies):
        path, hook = signers[integration]
        msg_id = f"lat-{tag}-{i}"
        requests.append(
            (path, msg_id, str(int(now.timestamp())), hook.sign(msg_id, now, body.decode()), body)
        )
    lock = threading.Lock()
    cursor = iter(range(len(requests)))
    failures: list[int] = []
    start = time.monotonic()

    def sender() -> None:
        conn = HTTPConnection("127.0.0.1", port, timeout=10)
        while True:
            with lock:
                i = next(cursor, None)
            if i is None:
                return
            delay = start + i / RATE - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            path, msg_id, ts, signature, body = requests[i]
            headers = {"Content-Type": "application/json", "webhook-id": msg_id}
            headers.update({"webhook-timestamp": ts, "webhook-signature": signature})
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status != 202:
                failures.append(response.status)

    threads = [threading.Thread(target=sender) for _ in range(SENDERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failures


def _rows(url: str, tag: str, since: dt.datetime) -> list[tuple[str, str, float | None]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(
            "SELECT event_type, status, EXTRACT(EPOCH FROM processed_at - received_at) * 1000 "
            "FROM integrations_inboundevent WHERE received_at >= %s AND webhook_id LIKE %s",
            [since, f"lat-{tag}-%"],
        ).fetchall()


def _wait(url: str, tag: str, since: dt.datetime, count: int, timeout: float = 120) -> list:
    deadline = time.monotonic() + timeout
    while True:
        rows = _rows(url, tag, since)
        done = sum(1 for _, status, _ in rows if status not in ("received", "processing"))
        if (len(rows) >= count and done == len(rows)) or time.monotonic() > deadline:
            return rows
        time.sleep(0.5)


def settle_unprocessed(url: str) -> int:
    """Events still `received` (what the ingest measurements stored with no worker running)
    are set aside as dead, so the workers' drains do not claim that backlog during the
    latency measurement."""
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(
            "UPDATE integrations_inboundevent SET status = 'dead', "
            "last_error = 'bench scale: stored by the ingest measurement, not processed' "
            "WHERE status = 'received'"
        ).rowcount


def measure(
    *,
    url: str,
    env: dict[str, str],
    port: int,
    hooks: dict[str, tuple[str, str]],
    players: range,
    seconds: int,
    label: str,
    logs: Path,
) -> dict:
    """Two workers, a short warm-up, then RATE events/s for `seconds`; percentiles overall and
    per event type."""
    settled = settle_unprocessed(url)
    purge = [sys.executable, "-m", "celery", "-A", "affiliatehub", "purge", "-f"]
    subprocess.run(purge, env=env, cwd=ROOT, check=True, capture_output=True)
    with contextlib.ExitStack() as stack:
        workers = []
        for index in range(WORKERS):
            name = f"scale-{label}-{index + 1}"
            workers.append(
                stack.enter_context(
                    process(
                        celery_worker(concurrency=1, name=name, quiet=True),
                        env=env,
                        log=logs / f"{name}.log",
                    )
                )
            )
        cpu = CpuMeter(
            {
                "workers": lambda: [p for w in workers for p in process_tree(w.pid)],
                "web": lambda: listening_processes(port),
                "database": lambda: server_processes(url),
                "senders": lambda: [psutil.Process()],  # this process (its threads) alone
            }
        )
        warm = f"{label}w{int(time.time())}"
        since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
        warm_bodies = _bodies(warm, RATE * 3, players)
        _send(port, hooks, warm, warm_bodies)
        _wait(url, warm, since, len(warm_bodies))
        tag = f"{label}{int(time.time())}"
        load = [round(x, 2) for x in os.getloadavg()]
        since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
        bodies = _bodies(tag, RATE * seconds, players)
        started = time.monotonic()
        cpu.start()
        failures = _send(port, hooks, tag, bodies)
        sent_seconds = time.monotonic() - started
        rows = _wait(url, tag, since, len(bodies))
        used = cpu.stop()
    statuses: dict[str, int] = {}
    for _, status, _ in rows:
        statuses[status] = statuses.get(status, 0) + 1
    done = [(kind, float(ms)) for kind, status, ms in rows if ms is not None]
    return {
        "rate_per_s": RATE,
        "seconds": seconds,
        "achieved_rate_per_s": round(len(bodies) / sent_seconds, 1),
        "workers": WORKERS,
        "load_avg_at_start": load,
        "set_aside_before": settled,
        "events": len(bodies),
        "not_accepted": len(failures),
        "statuses": statuses,
        # CPU seconds from the first send to the last event processed (the backlog's drain
        # included), per group and for the whole machine; per event, in milliseconds.
        "cpu_seconds": used,
        "cpu_ms_per_event": {
            name: round(seconds * 1000 / len(bodies), 2)
            for name, seconds in used.items()
            if name != "wall"
        },
        **latency_summary([ms for _, ms in done]),
        "by_type": {
            kind: latency_summary([ms for k, ms in done if k == kind])
            for kind in sorted({k for k, _ in done})
        },
    }
