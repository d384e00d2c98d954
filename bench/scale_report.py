"""The scale benchmark's final table: every figure on empty and on full tables, its target and
whether the full-table figure meets it (issue 18 §2)."""

from __future__ import annotations

from pathlib import Path

TARGETS = {
    "ingest_kept_min": 0.9,  # full-table ratio and p99 within 10% of the empty-table figures
    "latency_p99_ms_max": 250.0,
    "dashboard_s_max": 1.0,
    "read_page_ms_max": 50.0,
}


def rows(result: dict) -> list[tuple[str, object, object, str, bool | None]]:
    """(figure, empty tables, full tables, target, met) for every figure the run measured."""
    empty_in, full_in = result["ingest_empty"], result["ingest_full"]
    kept = TARGETS["ingest_kept_min"]
    ratio_kept = full_in["ratio"] / empty_in["ratio"] if empty_in["ratio"] else 0
    p99_limit = empty_in["django_p99_ms"] / kept
    out = [
        (
            "ingest c16: floor req/s",
            empty_in["floor_rps"],
            full_in["floor_rps"],
            "(the floor)",
            None,
        ),
        ("ingest c16: Django req/s", empty_in["django_rps"], full_in["django_rps"], "", None),
        (
            "ingest c16: Django / floor",
            empty_in["ratio"],
            full_in["ratio"],
            f">= {kept} x empty = {empty_in['ratio'] * kept:.3f} (kept {ratio_kept:.2f})",
            ratio_kept >= kept,
        ),
        ("ingest c16: floor p99 ms", empty_in["floor_p99_ms"], full_in["floor_p99_ms"], "", None),
        (
            "ingest c16: Django p99 ms",
            empty_in["django_p99_ms"],
            full_in["django_p99_ms"],
            f"<= empty / {kept} = {p99_limit:.1f}",
            full_in["django_p99_ms"] <= p99_limit,
        ),
    ]
    empty, full = result["empty"], result["full"]
    lat_e, lat_f = empty["latency"], full["latency"]
    rate = f"{lat_f['rate_per_s']}/s, {lat_f['workers']} workers"
    for pct in ("p50", "p95", "p99"):
        target, met = "", None
        if pct == "p99":
            target = f"< {TARGETS['latency_p99_ms_max']:.0f}"
            met = lat_f["p99_ms"] < TARGETS["latency_p99_ms_max"]
        figure = f"receipt->processed {pct} ms ({rate})"
        out.append((figure, lat_e[f"{pct}_ms"], lat_f[f"{pct}_ms"], target, met))
    out.append(
        (
            "  achieved rate /s, processed of sent",
            f"{lat_e['achieved_rate_per_s']}, {lat_e['processed']}/{lat_e['events']}",
            f"{lat_f['achieved_rate_per_s']}, {lat_f['processed']}/{lat_f['events']}",
            "all",
            lat_f["processed"] == lat_f["events"],
        )
    )
    # Where the CPU went while the events were sent and processed (older results lack it).
    cpu_e, cpu_f = lat_e.get("cpu_ms_per_event"), lat_f.get("cpu_ms_per_event")
    if cpu_e and cpu_f:
        for group in ("workers", "web", "database", "senders", "machine"):
            label = "all processes" if group == "machine" else group
            out.append((f"  CPU ms per event: {label}", cpu_e[group], cpu_f[group], "", None))
    for window in ("24h", "7d"):
        key = f"dashboard_{window}_s"
        out.append(
            (
                f"dashboard {window} s",
                empty[key],
                full[key],
                f"< {TARGETS['dashboard_s_max']}",
                full[key] < TARGETS["dashboard_s_max"],
            )
        )
    for key, label in (("page_middle_ms", "middle"), ("page_90pct_ms", "at 90%")):
        if key in full:
            out.append(
                (
                    f"read API page ms ({label})",
                    empty.get(key, "-"),
                    full[key],
                    f"< {TARGETS['read_page_ms_max']:.0f}",
                    full[key] < TARGETS["read_page_ms_max"],
                )
            )
    out += [
        ("MB per million events (events, keys)", "-", result["mb_per_million_events"], "", None),
        ("MB per million events (facts)", "-", result["facts_mb_per_million_events"], "", None),
        (
            "MB per million events (whole db)",
            "-",
            result["database_mb_per_million_events"],
            "",
            None,
        ),
    ]
    return out


def print_report(result: dict, path: Path) -> None:
    load = result["load"]
    lines = [
        f"\nscale: {result['events']:,} events on {result['cpus']} cores, load average at start "
        f"{result['load_avg_at_start']}, before the load {result['load_avg_before_load']}, "
        f"after it {result['load_avg_after_load']}, at the end {result['load_avg_at_end']}",
        f"  COPY load: {load['load_s']} s ({load['seconds']}); rows {load['rows']}",
        f"  latency phases' load average: empty "
        f"{result['empty']['latency']['load_avg_at_start']}, full "
        f"{result['full']['latency']['load_avg_at_start']}",
        f"  on disk: events {result['events_bytes'] / 1e6:,.0f} MB, keys "
        f"{result['keys_bytes'] / 1e6:,.0f} MB, facts "
        f"{sum(result['facts_bytes'].values()) / 1e6:,.0f} MB, database "
        f"{result['database_bytes'] / 1e6:,.0f} MB ({result['events_in_table']:,} events, "
        f"{result['events_in_default_partition']:,} in the default partition)",
        "",
        f"  {'figure':44} {'empty':>16} {'full':>16}  target",
    ]
    for figure, empty, full, target, met in rows(result):
        verdict = "" if met is None else ("  met" if met else "  MISSED")
        lines.append(f"  {figure:44} {empty!s:>16} {full!s:>16}  {target}{verdict}")
    lines.append(f"\n  written to {path}\n")
    print("\n".join(lines), flush=True)
