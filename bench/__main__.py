"""`make bench` entry point: python -m bench [name ...] (default: all)."""

from __future__ import annotations

import argparse
import importlib
import sys

BENCHMARKS = {
    "webhooks": "bench.webhook_ingest",
    "outbound": "bench.outbound_deliveries",
    "statements": "bench.statements_close",
    "dashboard": "bench.dashboard",
    "reconciliation": "bench.reconciliation",
    "outage": "bench.broker_outage",
    "soak": "bench.soak",
    "scale": "bench.scale",
    "risk": "bench.risk_rules",
    "throughput": "bench.throughput",
}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument(
        "names", nargs="*", help=f"benchmarks to run: {', '.join(BENCHMARKS)} (default: all)"
    )
    parser.add_argument("--quick", action="store_true", help="short runs, for checking the harness")
    parser.add_argument(
        "--events",
        type=int,
        help="scale: events to load (default 200,000; 10000000 or 30000000 where the disk allows)",
    )
    parser.add_argument(
        "--players",
        type=lambda text: [int(n) for n in text.split(",")],
        help="statements: player counts to close, comma-separated (default 25000,100000; "
        "1000000 loads 10M revenue rows and 10M trades)",
    )
    args = parser.parse_args()
    unknown = sorted(set(args.names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    for name in args.names or list(BENCHMARKS):
        module = importlib.import_module(BENCHMARKS[name])
        if name == "scale":
            module.run(quick=args.quick, events=args.events)
        elif name == "statements":
            module.run(quick=args.quick, players=args.players)
        else:
            module.run(quick=args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
