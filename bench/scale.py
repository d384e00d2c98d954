"""Costs as the event store grows (issue 18 §2): the same measures on empty and on full tables.

    python -m bench scale                     # 200,000 events (the default size)
    python -m bench scale --events 10000000   # 10M; --events 30000000 where the disk allows

1. Checks the free space of the database's disk first and refuses, saying how much it needs,
   when the load would not fit with room to spare.
2. On the empty store: webhook ingest at 16 connections, Django (gunicorn, 4 sync workers)
   against the bare psycopg insert floor (bench/floor.py) of the same run, unique ids.
3. Loads N inbound events with COPY, ids in order, received over the last 90 days (the monthly
   partitions take them; their idempotency keys follow in one INSERT ... SELECT), then ANALYZE.
4. On the full store: the same ingest against the same floor; the integration-health dashboard
   over 24 h and 7 d (rollup refreshed first, as the beat does); read-API keyset pages at the
   middle and at 90% of the table (GET /api/v1/events/?cursor=..., 100 rows); the size on disk
   per million events (partitions with their indexes, plus the key table).

Every figure is printed next to its target. Not measured here: receipt-to-processed at
200 events/s with two workers (bench webhooks' latency phase), facts (bench statements).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import shutil
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

import orjson
import psycopg

from bench.common import (
    ROOT,
    bench_database_url,
    child_env,
    gunicorn,
    manage,
    run_wrk,
    write_result,
)
from bench.webhook_ingest import _signed_requests, _write_requests

DEFAULT_EVENTS = 200_000
DJANGO_PORT = 18061
FLOOR_PORT = 18062
SLUG = "bench-crm"  # the requests file's path (bench.webhook_ingest.PATH) names this slug
SPAN = dt.timedelta(days=90)
# Bytes of disk one event takes, with its indexes and key, as measured (about 1.1 KB), doubled:
# room for the load's WAL and for what the run measures afterwards.
BYTES_PER_EVENT_NEEDED = 2_400
INGEST_SECONDS = 10
TARGETS = {
    "ingest_ratio_vs_empty_min": 0.9,  # within 10% of the same run's empty-table ratio
    "dashboard_s_max": 1.0,
    "read_page_ms_max": 50.0,
}


def _load_avg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _free_bytes(conn: psycopg.Connection) -> tuple[int, str]:
    """Free bytes on the database server's data directory (this machine), else on /."""
    try:
        directory = conn.execute("SHOW data_directory").fetchone()[0]
    except psycopg.Error:
        directory = "/"
    path = directory if os.path.exists(directory) else "/"
    return shutil.disk_usage(path).free, path


def _setup(url: str, env: dict[str, str]) -> tuple[str, int]:
    manage("migrate", "--no-input", "-v", "0", env=env)
    out = manage("integration_create", SLUG, "--kind", "crm", "--id-system", "crm", env=env)
    secret = re.search(r"whsec_\S+", out).group(0)
    with psycopg.connect(url, autocommit=True) as conn:
        integration_id = conn.execute(
            "SELECT id FROM integrations_integration WHERE slug = %s", [SLUG]
        ).fetchone()[0]
        # The floor's table: a plain table with the events' columns, indexes and the unique key.
        conn.execute(
            "CREATE TABLE bench_floor_event (LIKE integrations_inboundevent INCLUDING ALL)"
        )
        conn.execute(
            "ALTER TABLE bench_floor_event "
            "ADD CONSTRAINT bench_floor_unique UNIQUE (integration_id, webhook_id)"
        )
    return secret, integration_id


def _ingest(secret: str, workdir: Path, tag: str, seconds: int) -> dict:
    rows = {}
    for server, port in (("floor", FLOOR_PORT), ("django", DJANGO_PORT)):
        budget = int((2000 if server == "floor" else 1200) * seconds * 1.3)
        requests = _write_requests(
            _signed_requests(secret, budget, f"{tag}-{server}"), workdir / f"{tag}-{server}.tsv"
        )
        rows[server] = run_wrk(
            f"http://127.0.0.1:{port}", requests, connections=16, seconds=seconds
        )
    return {
        "floor_rps": rows["floor"]["rps"],
        "floor_p99_ms": rows["floor"]["p99_ms"],
        "django_rps": rows["django"]["rps"],
        "django_p99_ms": rows["django"]["p99_ms"],
        "ratio": round(rows["django"]["rps"] / rows["floor"]["rps"], 3),
        "errors": rows["django"]["errors"] + rows["django"]["non_2xx"],
    }


def _load(url: str, integration_id: int, events: int) -> dict:
    """COPY `events` deposit events, ids after the sequence's in receipt order over the last
    SPAN."""
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    start = now - SPAN
    step = SPAN / events
    started = time.perf_counter()
    columns = (
        "id, integration_id, webhook_id, event_type, occurred_at, payload, raw_body, body_hash, "
        "received_at, source, status, attempts, last_error, warnings, errors, parked_system, "
        "parked_external_id, processed_at"
    )
    with psycopg.connect(url) as conn, conn.cursor() as cursor:
        base = (
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence('integrations_inboundevent', 'id'), "
                "nextval(pg_get_serial_sequence('integrations_inboundevent', 'id')) + %s)",
                [events + 1],
            ).fetchone()[0]
            - events
            - 1
        )
        with cursor.copy(f"COPY integrations_inboundevent ({columns}) FROM STDIN") as copy:
            batch = []
            for n in range(1, events + 1):
                received = (start + step * n).isoformat()
                envelope = {
                    "type": "deposit.created",
                    "timestamp": received,
                    "data": {
                        "deposit_id": f"D-{n}",
                        "player_id": f"P-{n % 50_000}",
                        "amount": "25.00",
                        "currency": "EUR",
                    },
                }
                body = orjson.dumps(envelope)
                status = "dead" if n % 1000 == 0 else "processed"
                batch.append(
                    f"{base + n}\t{integration_id}\tscale-{n}\tdeposit.created\t{received}\t"
                    f"{body.decode()}\t\t{hashlib.sha256(body).hexdigest()}\t{received}\twebhook\t"
                    f"{status}\t1\t\t[]\t{{}}\t\t\t{received}"
                )
                if len(batch) >= 20_000:
                    copy.write("\n".join(batch) + "\n")
                    batch.clear()
            if batch:
                copy.write("\n".join(batch) + "\n")
        copied = time.perf_counter() - started
        cursor.execute(
            "INSERT INTO integrations_inboundeventkey "
            "(integration_id, webhook_id, event_id, received_at, body_hash) "
            "SELECT integration_id, webhook_id, id, received_at, body_hash "
            "FROM integrations_inboundevent WHERE id > %s AND id <= %s",
            [base, base + events],
        )
        conn.commit()
        cursor.execute("ANALYZE integrations_inboundevent")
        cursor.execute("ANALYZE integrations_inboundeventkey")
        conn.commit()
    return {
        "first_id": base + 1,
        "copy_s": round(copied, 1),
        "load_s": round(time.perf_counter() - started, 1),
        "rows_per_s": round(events / copied),
    }


def _size(url: str, events: int) -> dict:
    with psycopg.connect(url) as conn:
        partitions = conn.execute(
            "SELECT coalesce(sum(pg_total_relation_size(inhrelid)), 0) FROM pg_inherits "
            "WHERE inhparent = 'integrations_inboundevent'::regclass"
        ).fetchone()[0]
        keys = conn.execute(
            "SELECT pg_total_relation_size('integrations_inboundeventkey')"
        ).fetchone()[0]
        count = conn.execute("SELECT count(*) FROM integrations_inboundevent").fetchone()[0]
    per_million = (int(partitions) + int(keys)) / max(count, 1) * 1_000_000
    return {
        "events_in_table": count,
        "events_bytes": int(partitions),
        "keys_bytes": int(keys),
        "mb_per_million_events": round(per_million / 1e6, 1),
    }


def _django(url: str):
    os.environ.update(
        DATABASE_URL=url,
        DJANGO_SETTINGS_MODULE="affiliatehub.settings.local",
        # The bench's superuser signs in with force_login; no second factor to ask it for.
        AFFILIATEHUB_OTP_EXEMPT_USERNAMES="bench-admin",
        LOG_LEVEL="WARNING",
    )
    import django

    django.setup()


def _dashboard() -> dict:
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.utils import timezone

    from apps.monitoring.rollups import inbound_rollup_refresh

    started = time.perf_counter()
    inbound_rollup_refresh(since=timezone.now() - dt.timedelta(days=8))
    refresh = time.perf_counter() - started
    user, _ = get_user_model().objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    result = {"rollup_refresh_s": round(refresh, 2)}
    for window in ("24h", "7d"):
        timings = []
        for _ in range(5):
            t0 = time.perf_counter()
            response = client.get("/admin/health/", {"window": window})
            timings.append(time.perf_counter() - t0)
            assert response.status_code == 200, response.status_code
        result[f"dashboard_{window}_s"] = round(statistics.median(timings), 3)
    return result


def _read_pages(first_id: int, events: int) -> dict:
    from apps.core.api.pagination import encode_cursor
    from apps.core.services import apikey_create
    from apps.integrations.models import InboundEvent

    key = apikey_create(name=f"bench-scale-{time.time_ns()}", scopes=["events:read"]).plaintext
    result = {}
    for label, fraction in (("middle", 0.5), ("deep_90pct", 0.9)):
        row = (
            InboundEvent.objects.filter(pk__gte=first_id + int(events * fraction))
            .order_by("pk")
            .values_list("received_at", "pk")
            .first()
        )
        if row is None:
            continue
        url = f"http://127.0.0.1:{DJANGO_PORT}/api/v1/events/?cursor={encode_cursor(*row)}"
        timings = []
        for _ in range(11):
            request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
            t0 = time.perf_counter()
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
                body = orjson.loads(response.read())
            timings.append((time.perf_counter() - t0) * 1000)
            assert len(body["results"]) == 100, len(body["results"])
        result[f"read_page_{label}_ms"] = round(statistics.median(timings[1:]), 1)
    return result


def run(*, quick: bool = False, events: int | None = None) -> dict:
    events = events or (20_000 if quick else DEFAULT_EVENTS)
    seconds = 3 if quick else INGEST_SECONDS
    url = bench_database_url("scale")
    with psycopg.connect(url, autocommit=True) as conn:
        free, where = _free_bytes(conn)
    needed = events * BYTES_PER_EVENT_NEEDED
    if free < needed:
        raise SystemExit(
            f"bench scale: {events:,} events need about {needed / 1e9:.1f} GB free on {where}; "
            f"only {free / 1e9:.1f} GB are. Choose fewer with --events."
        )
    load_at_start = _load_avg()
    print(
        f"scale benchmark: {events:,} events, {free / 1e9:.0f} GB free on {where}, "
        f"load {load_at_start}; setting up…",
        flush=True,
    )
    env = child_env(url, AFFILIATEHUB_DATA_DIR=str(ROOT / ".data" / "bench"))
    secret, integration_id = _setup(url, env)
    floor_env = dict(env, BENCH_INTEGRATION_ID=str(integration_id), PYTHONPATH=str(ROOT))
    result: dict = {"events": events, "load_avg_at_start": load_at_start, "free_gb": free / 1e9}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        with (
            gunicorn("bench.floor:application", FLOOR_PORT, env=floor_env),
            gunicorn("affiliatehub.wsgi:application", DJANGO_PORT, env=env),
        ):
            result["ingest_empty"] = _ingest(secret, workdir, "empty", seconds)
            print(f"  ingest on empty tables: {result['ingest_empty']}", flush=True)
            result["load"] = _load(url, integration_id, events)
            print(f"  loaded: {result['load']}", flush=True)
            result["load_avg_after_load"] = _load_avg()
            result["ingest_full"] = _ingest(secret, workdir, "full", seconds)
            print(f"  ingest on full tables: {result['ingest_full']}", flush=True)
            _django(url)
            result.update(_dashboard())
            result.update(_read_pages(result["load"]["first_id"], events))
    result.update(_size(url, events))
    result["load_avg_at_end"] = _load_avg()
    result["targets"] = TARGETS
    path = write_result(f"scale_{events}", result)
    _print(result, path)
    return result


def _print(result: dict, path: Path) -> None:
    empty, full = result["ingest_empty"], result["ingest_full"]
    kept = round(full["ratio"] / empty["ratio"], 3) if empty["ratio"] else None
    lines = [
        f"\nscale: {result['events']:,} events (load average at start "
        f"{result['load_avg_at_start']})",
        f"  load with COPY: {result['load']['copy_s']} s ({result['load']['rows_per_s']:,} "
        "rows/s), "
        f"with keys and ANALYZE {result['load']['load_s']} s",
        f"  ingest c16, empty: Django {empty['django_rps']} req/s p99 {empty['django_p99_ms']} ms; "
        f"floor {empty['floor_rps']} req/s p99 {empty['floor_p99_ms']} ms; ratio {empty['ratio']}",
        f"  ingest c16, full:  Django {full['django_rps']} req/s p99 {full['django_p99_ms']} ms; "
        f"floor {full['floor_rps']} req/s p99 {full['floor_p99_ms']} ms; ratio {full['ratio']}",
        f"  ratio full / empty: {kept} (target >= {TARGETS['ingest_ratio_vs_empty_min']})",
        f"  dashboard 24h: {result['dashboard_24h_s']} s, 7d: {result['dashboard_7d_s']} s "
        f"(target < {TARGETS['dashboard_s_max']} s; rollup refresh {result['rollup_refresh_s']} s)",
    ]
    for key in ("read_page_middle_ms", "read_page_deep_90pct_ms"):
        if key in result:
            lines.append(
                f"  read API page ({key[10:-3]}): {result[key]} ms "
                f"(target < {TARGETS['read_page_ms_max']} ms)"
            )
    lines += [
        f"  size on disk: {result['mb_per_million_events']} MB per million events "
        f"(events {result['events_bytes'] / 1e6:.0f} MB, keys {result['keys_bytes'] / 1e6:.0f} MB)",
        f"  load average at end {result['load_avg_at_end']}; written to {path.relative_to(ROOT)}\n",
    ]
    print("\n".join(lines), flush=True)
