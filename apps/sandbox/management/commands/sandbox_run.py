"""`manage.py sandbox_run`: simulated CRM, trading, payment and compliance systems sending
signed webhooks to a running hub (started by `make run` unless AFFILIATEHUB_DEMO=0)."""

from __future__ import annotations

import signal
import threading

from django.core.management.base import BaseCommand

from apps.sandbox.simulator import Faults
from apps.sandbox.traffic import run_traffic


class Command(BaseCommand):
    help = "Send realistic sandbox traffic to the hub through its signed webhooks until stopped."

    def add_arguments(self, parser):
        parser.add_argument(
            "--base-url", default="http://127.0.0.1:8000", help="Where the hub answers."
        )
        parser.add_argument(
            "--rate", type=float, default=5.0, help="Events per second (default 5)."
        )
        parser.add_argument(
            "--duration", type=float, default=None, help="Stop after this many seconds."
        )
        parser.add_argument(
            "--max-events", type=int, default=None, help="Stop after this many events."
        )
        parser.add_argument(
            "--seed", type=int, default=None, help="Random seed (repeatable traffic)."
        )
        parser.add_argument(
            "--no-faults",
            action="store_true",
            help="No duplicates, drops, reordering or bad events.",
        )

    def handle(self, *args, base_url, rate, duration, max_events, seed, no_faults, **options):
        stop = threading.Event()
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            stats = run_traffic(
                base_url=base_url,
                rate=rate,
                stop=stop,
                duration=duration,
                max_events=max_events,
                seed=seed,
                faults=Faults.none() if no_faults else Faults(),
            )
        except KeyboardInterrupt:
            stop.set()
            self.stdout.write("Sandbox traffic stopped.")
            return
        finally:
            signal.signal(signal.SIGTERM, previous)
        self.stdout.write(f"Sandbox traffic done: {stats.summary()}.")
