"""Costs as the event store grows (issue 18 §2): the same measures on empty and on full tables.

    python -m bench scale                     # 200,000 events (the default size)
    python -m bench scale --events 10000000   # 10M; --events 30000000 where the disk allows
    BENCH_SCALE_SECONDS=120 python -m bench scale   # the 200 events/s phases' length (60 s)

1. Checks the free space of the database's disk first and refuses, with the numbers, when the
   load (events, keys and facts, with room for WAL and what the run writes) would not fit.
2. On empty tables (the floor of the run): webhook ingest at 16 connections, Django (gunicorn,
   4 sync workers) against the bare psycopg insert (bench/floor.py) of the same run. Then a
   seed of 100 players (1,000 events with their facts) is loaded, and on it: receipt-to-processed
   at a sustained 200 events/s with two worker processes (bench/scale_latency.py), the
   integration-health dashboard over 24 h and 7 d and read-API keyset pages.
3. Loads the rest with COPY (bench/scale_load.py): N inbound events over the last 90 days (the
   monthly partitions take them) with their idempotency keys, and the facts their processing
   recorded: players, their CRM and trading identifier mappings, deposits, daily revenue reports
   and closed deals, in the mix the events carry. Then ANALYZE.
4. On the full tables, the same measures: ingest against the same floor, receipt-to-processed,
   the dashboard (rollup refreshed first, as the beat does), read-API pages at the middle and
   at 90% of the table (GET /api/v1/events/?cursor=..., 100 rows); then the size on disk per
   million events (partitions with their indexes and the key table; facts apart).

The final table prints every figure next to its target and the empty-table figure of the run.
"""

from __future__ import annotations

import datetime as dt
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

from bench import scale_latency, scale_load
from bench.common import (
    ROOT,
    _with_database,
    bench_broker_url,
    bench_database_url,
    child_env,
    gunicorn,
    manage,
    run_wrk,
    write_result,
)
from bench.scale_report import print_report
from bench.webhook_ingest import _signed_requests, _write_requests

DEFAULT_EVENTS = 200_000
DJANGO_PORT = 18061
FLOOR_PORT = 18062
SLUG = "bench-crm"  # the requests file's path (bench.webhook_ingest.PATH) names this slug
TRADING_SLUG = "bench-mt5"
SEED_BLOCKS = 100  # players (of ten events each) in the tables for the empty-table measures
# Bytes of disk one loaded event takes with its key and its share of the facts, as measured
# (about 1.45 KB, the whole database over the events at 200k), doubled: room for the load's WAL
# and for what the run measures afterwards.
BYTES_PER_EVENT_NEEDED = 2_900
INGEST_SECONDS = 10
LATENCY_SECONDS = 60
FACT_TABLES = [table for table, *_ in scale_load.TABLES if table != "integrations_inboundevent"]


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


def _setup(url: str, env: dict[str, str]) -> tuple[dict[str, tuple[str, str]], tuple[int, int]]:
    """Migrate; a CRM and a trading integration; the floor's table. Returns the webhook paths
    and secrets by integration, and the two integrations' ids."""
    manage("migrate", "--no-input", "-v", "0", env=env)
    hooks, ids = {}, []
    for name, slug, kind, system in (
        ("crm", SLUG, "crm", scale_load.CRM_SYSTEM),
        ("trading", TRADING_SLUG, "trading", scale_load.TRADING_SYSTEM),
    ):
        out = manage("integration_create", slug, "--kind", kind, "--id-system", system, env=env)
        hooks[name] = (f"/api/v1/webhooks/{slug}/", re.search(r"whsec_\S+", out).group(0))
        with psycopg.connect(url, autocommit=True) as conn:
            ids.append(
                conn.execute(
                    "SELECT id FROM integrations_integration WHERE slug = %s", [slug]
                ).fetchone()[0]
            )
    with psycopg.connect(url, autocommit=True) as conn:
        # The floor's table: a plain table with the events' columns, indexes and the unique key.
        conn.execute(
            "CREATE TABLE bench_floor_event (LIKE integrations_inboundevent INCLUDING ALL)"
        )
        conn.execute(
            "ALTER TABLE bench_floor_event "
            "ADD CONSTRAINT bench_floor_unique UNIQUE (integration_id, webhook_id)"
        )
    return hooks, (ids[0], ids[1])


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


def _size(url: str) -> dict:
    with psycopg.connect(url) as conn:
        partitions = conn.execute(
            "SELECT coalesce(sum(pg_total_relation_size(inhrelid)), 0) FROM pg_inherits "
            "WHERE inhparent = 'integrations_inboundevent'::regclass"
        ).fetchone()[0]
        keys = conn.execute(
            "SELECT pg_total_relation_size('integrations_inboundeventkey')"
        ).fetchone()[0]
        facts = {
            table: int(
                conn.execute("SELECT pg_total_relation_size(%s::regclass)", [table]).fetchone()[0]
            )
            for table in FACT_TABLES
        }
        count = conn.execute("SELECT count(*) FROM integrations_inboundevent").fetchone()[0]
        in_default = conn.execute(
            "SELECT count(*) FROM integrations_inboundevent_default"
        ).fetchone()[0]
        database = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
    per_million = 1_000_000 / max(count, 1)
    return {
        "events_in_table": count,
        "events_in_default_partition": in_default,
        "events_bytes": int(partitions),
        "keys_bytes": int(keys),
        "facts_bytes": facts,
        "database_bytes": int(database),
        "mb_per_million_events": round((int(partitions) + int(keys)) * per_million / 1e6, 1),
        "facts_mb_per_million_events": round(sum(facts.values()) * per_million / 1e6, 1),
        "database_mb_per_million_events": round(int(database) * per_million / 1e6, 1),
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
    """Median time of a 100-row keyset page of the events API, starting at the middle and at
    90% of the `events` loaded from `first_id` on."""
    from apps.core.api.pagination import encode_cursor
    from apps.core.services import apikey_create
    from apps.integrations.models import InboundEvent

    key = apikey_create(name=f"bench-scale-{time.time_ns()}", scopes=["events:read"]).plaintext
    result = {}
    for label, fraction in (("page_middle_ms", 0.5), ("page_90pct_ms", 0.9)):
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
        result[label] = round(statistics.median(timings[1:]), 1)
    return result


def _measure(
    label: str, *, url, env, hooks, players: range, pages: tuple[int, int], seconds, logs
) -> dict:
    """Receipt-to-processed, the dashboard and read-API pages on the tables as they are."""
    out = {
        "latency": scale_latency.measure(
            url=url,
            env=env,
            port=DJANGO_PORT,
            hooks=hooks,
            players=players,
            seconds=seconds,
            label=label,
            logs=logs,
        )
    }
    print(f"  receipt-to-processed ({label}): {out['latency']}", flush=True)
    out.update(_dashboard())
    out.update(_read_pages(*pages))
    shown = {key: value for key, value in out.items() if key != "latency"}
    print(f"  dashboard and pages ({label}): {shown}", flush=True)
    return out


def _partitions(now: dt.datetime) -> int:
    """The monthly partitions of the loaded span in every partitioned table (events, revenue
    reports dated up to four days before their player's registration, deals), as the daily
    maintenance would have made them month after month (the migrations make only the previous
    month's): no loaded row lands in a default partition."""
    from apps.core.partitions import add_months, month_start, partition_ensure, registered

    first = month_start(now - scale_load.SPAN - dt.timedelta(days=7))
    made = 0
    for spec in registered():
        month = first
        while month <= month_start(now):
            made += partition_ensure(spec.table, month)
            month = add_months(month, 1)
    return made


def _refuse_if_short(events: int) -> tuple[int, str]:
    """Checked on the server's maintenance database, before the benchmark's own is dropped and
    made again: a refused run leaves an earlier run's database alone."""
    base = os.environ.get("DATABASE_URL")
    if not base:
        from affiliatehub import embedded

        base = embedded.database_url()
    with psycopg.connect(_with_database(base, "postgres"), autocommit=True) as conn:
        free, where = _free_bytes(conn)
    needed = events * BYTES_PER_EVENT_NEEDED
    if free < needed:
        raise SystemExit(
            f"bench scale: {events:,} events with their facts need about {needed / 1e9:.1f} GB "
            f"free on {where} ({BYTES_PER_EVENT_NEEDED:,} bytes an event: about 1.45 KB measured, "
            f"doubled for WAL and the run's own writes); only {free / 1e9:.1f} GB are. "
            "Choose fewer with --events."
        )
    return free, where


def run(*, quick: bool = False, events: int | None = None) -> dict:
    events = events or (20_000 if quick else DEFAULT_EVENTS)
    blocks = max(events // scale_load.BLOCK, SEED_BLOCKS + 1)
    events = blocks * scale_load.BLOCK
    seconds = 3 if quick else INGEST_SECONDS
    latency_seconds = int(os.environ.get("BENCH_SCALE_SECONDS", 10 if quick else LATENCY_SECONDS))
    free, where = _refuse_if_short(events)
    url = bench_database_url("scale")
    load_at_start = _load_avg()
    print(
        f"scale benchmark: {events:,} events, {free / 1e9:.0f} GB free on {where}, "
        f"load {load_at_start}; setting up…",
        flush=True,
    )
    broker = bench_broker_url(db=10)  # a queue of its own
    env = child_env(
        url, AFFILIATEHUB_DATA_DIR=str(ROOT / ".data" / "bench"), CELERY_BROKER_URL=broker
    )
    hooks, integrations = _setup(url, env)
    floor_env = dict(env, BENCH_INTEGRATION_ID=str(integrations[0]), PYTHONPATH=str(ROOT))
    result: dict = {
        "events": events,
        "started_at": dt.datetime.now(dt.UTC).isoformat(),
        "load_avg_at_start": load_at_start,
        "free_gb": round(free / 1e9, 1),
        "cpus": os.cpu_count(),
    }
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    load = {"total_events": events, "now": now, "integrations": integrations}
    logs = ROOT / ".data" / "bench-scale"  # the workers' logs, kept for a look
    logs.mkdir(parents=True, exist_ok=True)
    common = {"url": url, "env": env, "hooks": hooks, "seconds": latency_seconds, "logs": logs}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        with (
            gunicorn("bench.floor:application", FLOOR_PORT, env=floor_env),
            gunicorn("affiliatehub.wsgi:application", DJANGO_PORT, env=env),
        ):
            result["ingest_empty"] = _ingest(hooks["crm"][1], workdir, "empty", seconds)
            print(f"  ingest on empty tables: {result['ingest_empty']}", flush=True)
            _django(url)
            scale_load.brand_licence()
            result["partitions_made"] = _partitions(now)
            seed = scale_load.load(url, first_block=0, blocks=SEED_BLOCKS, **load)
            result["empty"] = _measure(
                "empty",
                players=range(SEED_BLOCKS),
                pages=(seed["first_event_id"], seed["events"]),
                **common,
            )
            result["load_avg_before_load"] = _load_avg()
            result["load"] = scale_load.load(
                url, first_block=SEED_BLOCKS, blocks=blocks - SEED_BLOCKS, **load
            )
            print(f"  loaded: {result['load']}", flush=True)
            result["load_avg_after_load"] = _load_avg()
            result["ingest_full"] = _ingest(hooks["crm"][1], workdir, "full", seconds)
            print(f"  ingest on full tables: {result['ingest_full']}", flush=True)
            result["full"] = _measure(
                "full",
                players=range(blocks),
                pages=(result["load"]["first_event_id"], result["load"]["events"]),
                **common,
            )
    result.update(_size(url))
    result["load_avg_at_end"] = _load_avg()
    path = write_result(f"scale_{events}", result)
    print_report(result, path.relative_to(ROOT))
    return result
