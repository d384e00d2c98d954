"""Benchmark: reconciling a window of 1,000,000 polled events of which 1% were missed by webhooks.

990,000 of the source's events are already stored as webhook events (loaded with COPY); the
source serves all 1,000,000. In the same database and run, four measurements, each in a fresh
child process so its peak RSS is its own:

- anti-join: the floor. COPY the source's ids into a temporary table, then PostgreSQL alone
  finds the missing ones (`NOT EXISTS` against integrations_inboundevent). Only the query is
  timed; the COPY is reported beside it.
- core: the reconciliation the poller runs for the window (`polling.PageStore`: one query per
  page finds its ids not stored yet, only those are validated and stored, each page's events,
  RecoveredEvent rows and the run's counters in one transaction, while the next page's query
  runs on a second connection), fed pages of 10,000 events from a local generator (its time
  excluded; `add` returns only when its page's lookup and the previous page's storing are done,
  so no work of the poller overlaps the generator). No HTTP.
- transfer: the HTTP part alone, fetching and parsing every page as the poller does, storing
  nothing.
- http: the whole poller (`integration_poll`, backfill) against a child HTTP server speaking the
  generic WEBHOOKS.md §5 contract with pages of 10,000 (rendered to a file before the server
  starts answering, and served from it).

Core, transfer and http are measured for both page formats of the generic contract: JSON (the
default) and NDJSON (adapter generic_ndjson: the poller reads each line's id and parses only the
missing events; its core figure includes reading the pages, the JSON one does not parse at all).

Both reconciliations must recover exactly the missed 1% and count the rest as already received.
Each reconciliation runs REPEATS times per size from the same state and the fastest run is
reported, as the anti-join is the fastest of its runs; every run is listed with its own ratio.
Target (issue 18 §4): reconciliation within 2x of the anti-join at 1M events, over HTTP too;
peak RSS flat between 100k and 1M events. Each size prints its ratios next to the target.

    python -m bench reconciliation            # 100k and 1M
    python -m bench reconciliation --quick    # 10k and 100k
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

from bench.common import (
    ROOT,
    bench_broker_url,
    bench_database_url,
    child_env,
    manage,
    process,
    write_result,
)
from bench.reconciliation_source import (
    MISSED_EVERY,
    PAGE_SIZE,
    SLUG,
    WINDOW,
    antijoin,
    django_setup,
    generate,
    ndjson_lines,
    ndjson_page,
    pages,
    serve,
)

REPEATS = 3  # runs of each reconciliation per size; the fastest is reported, as for the floor
TARGET = 2.0  # reconciliation / anti-join (issue 18 §4)


# --------------------------------------------------------------------------------------------
# Children


def _worker_state() -> None:
    """What a Celery worker process has loaded before it runs a poll: the Celery app finalized
    and the broker's client module (dispatch's direct publisher). Not reconciliation work: left
    in the timed part, these first-use imports were ~0.15 s, 40% of the core figure at 100k."""
    from apps.integrations.inbound import dispatch, tasks

    dispatch._fast_publisher(tasks.process_inbound_events)


def _run_summary(run, seconds: float) -> dict:
    import resource

    return {
        "seconds": round(seconds, 3),
        "pages": run.pages,
        "polled": run.polled,
        "already_received": run.already_received,
        "recovered": run.recovered,
        "failed": run.failed,
        "status": run.status,
        "events_per_second": round(run.polled / seconds) if seconds else None,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


FORMATS = ("json", "ndjson")  # the generic contract's page formats (PollConfig.adapter)
ADAPTERS = {"json": "generic", "ndjson": "generic_ndjson"}


def core(total: int, fmt: str = "json") -> dict:
    """The poller's reconciliation of the window (`polling.PageStore`: each page's anti-join as it
    arrives, while the page before it is stored), fed pages from a local generator. No HTTP.

    json: the generator's dicts are handed to the store as parsed pages (parsing not timed).
    ndjson: the generator's pages are rendered as NDJSON bodies (not timed), and reading each
    body (GenericNdjsonAdapter.parse: the ids, not the events) is timed with the store."""
    django_setup()
    import resource

    from apps.integrations.models import Integration, ReconciliationRun
    from apps.integrations.polling.adapters import GenericNdjsonAdapter
    from apps.integrations.polling.services import PageStore

    integration = Integration.objects.get(slug=SLUG)
    _worker_state()
    run = ReconciliationRun.objects.create(
        integration=integration,
        trigger=ReconciliationRun.Trigger.BACKFILL,
        window_start=WINDOW[0],
        window_end=WINDOW[1],
        requested_by="bench core",
    )
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    seconds = generating = 0.0
    source = pages(total)
    ndjson = GenericNdjsonAdapter() if fmt == "ndjson" else None
    store = PageStore(integration=integration, run=run)
    while True:
        started = time.perf_counter()
        page = next(source, None)  # the source's cost (building the dicts) is not reconciliation
        body = ndjson_page(ndjson_lines(page), None) if ndjson and page else b""
        generating += time.perf_counter() - started
        started = time.perf_counter()
        if page is None:
            store.flush()
            store.close()
            seconds += time.perf_counter() - started
            break
        if ndjson:
            read = ndjson.parse(body)
            store.add(read.events, ids=read.ids)
        else:
            store.add(page)
        seconds += time.perf_counter() - started
    ReconciliationRun.objects.filter(pk=run.pk).update(status=ReconciliationRun.Status.SUCCEEDED)
    run.refresh_from_db()
    return {
        **_run_summary(run, seconds),
        "rss_before_mb": round(rss_before / 1024, 1),
        "source_generation_seconds": round(generating, 3),
    }


def _use_format(integration, url: str, total: int, fmt: str) -> None:
    from apps.integrations.models import PollConfig

    PollConfig.objects.filter(integration=integration).update(
        url=f"{url}?total={total}", timeout_seconds=120, adapter=ADAPTERS[fmt]
    )


def transfer(total: int, url: str, fmt: str = "json") -> dict:
    """The HTTP part alone: fetch and parse every page of the window the way the poller does
    (same session, adapter, Accept header and retry wrapper), storing nothing. An NDJSON page is
    read as the poller reads it: its ids, not its events."""
    django_setup()
    import requests

    from apps.integrations.models import Integration, PollConfig
    from apps.integrations.polling.adapters import WindowRequest, adapter_for
    from apps.integrations.polling.services import _fetch

    integration = Integration.objects.get(slug=SLUG)
    _use_format(integration, url, total, fmt)
    config = PollConfig.objects.select_related("integration").get(integration=integration)
    adapter, http, cursor, polled = adapter_for(config), requests.Session(), None, 0
    headers = {"Accept": adapter.accept}
    started = time.perf_counter()
    while True:
        request = WindowRequest(
            since=WINDOW[0],
            until=WINDOW[1],
            event_types=(),
            page_size=config.page_size,
            cursor=cursor,
        )
        page = adapter.parse(_fetch(http, config, adapter.params(request), headers, sleep=None))
        polled += len(page.events)
        cursor = page.next_cursor
        if cursor is None:
            break
    return {"seconds": round(time.perf_counter() - started, 3), "polled": polled}


def poll(total: int, url: str, fmt: str = "json") -> dict:
    """The whole poller over HTTP: integration_poll (backfill of the window)."""
    django_setup()
    import resource

    from apps.integrations.models import Integration, ReconciliationRun
    from apps.integrations.polling.services import integration_poll

    integration = Integration.objects.get(slug=SLUG)
    _use_format(integration, url, total, fmt)
    _worker_state()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    run = integration_poll(
        integration_id=integration.pk,
        trigger=ReconciliationRun.Trigger.BACKFILL,
        since=WINDOW[0],
        until=WINDOW[1],
        requested_by="bench http",
    )
    seconds = time.perf_counter() - started
    if run.error:
        raise SystemExit(f"The poll failed: {run.error}")
    return {**_run_summary(run, seconds), "rss_before_mb": round(rss_before / 1024, 1)}


def forget_recovered() -> dict:
    """Back to the state before reconciling: drop what the last run stored (source poll)."""
    django_setup()
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM integrations_recoveredevent")
        # Their idempotency keys too, or the next run would find them stored (InboundEventKey).
        cursor.execute(
            "DELETE FROM integrations_inboundeventkey k USING integrations_inboundevent e "
            "WHERE e.source = 'poll' AND k.integration_id = e.integration_id "
            "AND k.webhook_id = e.webhook_id"
        )
        cursor.execute("DELETE FROM integrations_inboundevent WHERE source = 'poll'")
        deleted = cursor.rowcount
        cursor.execute("VACUUM ANALYZE integrations_inboundevent")
        cursor.execute("VACUUM ANALYZE integrations_inboundeventkey")
    return {"deleted": deleted}


# --------------------------------------------------------------------------------------------
# Driver


def _child(env: dict[str, str], *args: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "bench.reconciliation", *args],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _measure_formats(
    env: dict[str, str], total: int, port: int, floor: dict, expected: dict
) -> dict[str, dict]:
    """For each page format: transfer alone, REPEATS core and REPEATS HTTP runs, the formats
    interleaved run by run (the machine's load drifts: each pair of runs shares it). The fastest
    run of each is reported (as the floor is the best of its runs: the same statistic on both
    sides of the ratio), every run's ratio and load average beside it. Each run starts from the
    same state (`forget` undoes it) and must recover exactly the missed events."""
    url = f"http://127.0.0.1:{port}/events"

    def measured(*args: str) -> dict:
        result = _child(env, *args)
        if args[0] != "transfer":
            _child(env, "forget")
        return {**result, "load_average": round(os.getloadavg()[0], 2)}

    runs: dict[str, dict[str, list]] = {fmt: {"core": [], "http": []} for fmt in FORMATS}
    transfers = {fmt: measured("transfer", str(total), url, fmt) for fmt in FORMATS}
    for name in ("core", "http"):
        for _ in range(REPEATS):
            for fmt in FORMATS:
                args = (str(total), fmt) if name == "core" else (str(total), url, fmt)
                runs[fmt][name].append(measured("core" if name == "core" else "poll", *args))
    floor_seconds = floor["antijoin_seconds"]
    results = {}
    for fmt in FORMATS:
        result: dict = {}
        for name in ("core", "http"):
            for run in runs[fmt][name]:
                got = {key: run[key] for key in expected}
                if (
                    got != expected
                    or run["failed"]
                    or run["already_received"] != total - expected["recovered"]
                ):
                    raise SystemExit(f"{fmt} {name} at {total}: expected {expected}, got {run}")
            result[name] = {
                **min(runs[fmt][name], key=lambda r: r["seconds"]),
                "runs_seconds": [r["seconds"] for r in runs[fmt][name]],
                "runs_load_average": [r["load_average"] for r in runs[fmt][name]],
            }
            result[f"{name}_vs_antijoin"] = round(result[name]["seconds"] / floor_seconds, 2)
            result[f"{name}_runs_vs_antijoin"] = [
                round(r["seconds"] / floor_seconds, 2) for r in runs[fmt][name]
            ]
        result["transfer_only"] = transfers[fmt]
        result["transfer_vs_antijoin"] = round(transfers[fmt]["seconds"] / floor_seconds, 2)
        result["load_average"] = round(os.getloadavg()[0], 2)
        results[fmt] = result
    return results


def run(*, quick: bool = False) -> dict:
    sizes = [10_000, 100_000] if quick else [100_000, 1_000_000]
    load_at_start = round(os.getloadavg()[0], 2)
    broker = bench_broker_url()
    database_url = bench_database_url("reconciliation")
    env = child_env(database_url, **({"CELERY_BROKER_URL": broker} if broker else {}))
    manage("migrate", "--no-input", "-v", "0", env=env)
    loaded = _child(env, "generate", str(sizes[-1]))
    print(f"reconciliation: loaded {loaded}", flush=True)
    port = _free_port()
    results = []
    with process(
        [sys.executable, "-m", "bench.reconciliation", "serve", str(port), str(sizes[-1])],
        env=env,
        ready_url=f"http://127.0.0.1:{port}/events?total=1",
    ):
        for total in sizes:
            floor = _child(env, "antijoin", str(total))
            expected = {"polled": total, "recovered": len(range(0, total, MISSED_EVERY))}
            if floor["antijoin_missing"] != expected["recovered"]:
                raise SystemExit(f"anti-join at {total} found {floor['antijoin_missing']} missing")
            row = {"events": total, "missed": expected["recovered"], **floor}
            row.update(_measure_formats(env, total, port, floor, expected))
            for fmt in FORMATS:
                print(
                    f"reconciliation at {total}, {fmt} pages: anti-join "
                    f"{floor['antijoin_seconds']} s; core {row[fmt]['core_runs_vs_antijoin']}x "
                    f"(load {row[fmt]['core']['runs_load_average']}), over HTTP "
                    f"{row[fmt]['http_runs_vs_antijoin']}x (load "
                    f"{row[fmt]['http']['runs_load_average']}), fetch and read alone "
                    f"{row[fmt]['transfer_vs_antijoin']}x (target <= {TARGET}x)",
                    flush=True,
                )
            # The JSON figures keep their names at the top of the row (earlier results' shape).
            row.update({key: row["json"][key] for key in ("core", "http", "transfer_only")})
            for key in ("core_vs_antijoin", "http_vs_antijoin", "transfer_vs_antijoin"):
                row[key] = row["json"][key]
            row["load_average"] = round(os.getloadavg()[0], 2)
            results.append(row)
            print(f"reconciliation at {total}: {json.dumps(row)}", flush=True)
    biggest = results[-1]
    summary = {
        "benchmark": "reconciliation",
        "quick": quick,
        "page_size": PAGE_SIZE,
        "broker": broker or "embedded file-system",
        "load": loaded,
        "sizes": results,
        "target": f"reconciliation <= {TARGET}x the anti-join; peak RSS flat between sizes",
        "core_vs_antijoin": biggest["core_vs_antijoin"],
        "http_vs_antijoin": biggest["http_vs_antijoin"],
        "transfer_vs_antijoin": biggest["transfer_vs_antijoin"],
        "load_average_at_start": load_at_start,
    }
    for fmt in FORMATS:
        # The target is set for the full window (ISSUE 6: 1,000,000 events); the smaller size is
        # there to show memory does not grow with the window (its ratio carries the fixed costs).
        summary[fmt] = {
            "core_vs_antijoin": biggest[fmt]["core_vs_antijoin"],
            "http_vs_antijoin": biggest[fmt]["http_vs_antijoin"],
            "transfer_vs_antijoin": biggest[fmt]["transfer_vs_antijoin"],
            "meets_target_core": biggest[fmt]["core_vs_antijoin"] <= TARGET,
            "meets_target_http": biggest[fmt]["http_vs_antijoin"] <= TARGET,
            "rss_growth_mb_core": round(
                results[-1][fmt]["core"]["peak_rss_mb"] - results[0][fmt]["core"]["peak_rss_mb"], 1
            ),
            "rss_growth_mb_http": round(
                results[-1][fmt]["http"]["peak_rss_mb"] - results[0][fmt]["http"]["peak_rss_mb"], 1
            ),
        }
    path = write_result("reconciliation_quick" if quick else "reconciliation", summary)
    print(
        f"reconciliation: {json.dumps({k: v for k, v in summary.items() if k != 'sizes'})} -> "
        f"{path}",
        flush=True,
    )
    return summary


def main(argv: list[str]) -> None:
    command, *args = argv
    if command == "serve":
        serve(int(args[0]), int(args[1]) if len(args) > 1 else 0)
        return
    handlers = {
        "generate": lambda: generate(int(args[0])),
        "antijoin": lambda: antijoin(int(args[0])),
        "core": lambda: core(int(args[0]), *args[1:]),
        "poll": lambda: poll(int(args[0]), *args[1:]),
        "transfer": lambda: transfer(int(args[0]), *args[1:]),
        "forget": forget_recovered,
    }
    print(json.dumps(handlers[command]()), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
