"""Prometheus metrics read from the database at scrape time.

Counters kept in process memory are wrong under gunicorn and Celery (each process counts only
its own work, and restarts reset them); the database already holds every fact, so one custom
collector turns it into metrics on each scrape, identical whichever process answers. Every
query reads a rollup or a small index: the hourly inbound rollup, ResolutionStat, the
partial/status indexes of the event tables.
"""

from __future__ import annotations

from collections import defaultdict

from django.db.models import Count, Sum
from django.db.models.functions import Coalesce
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from affiliatehub.supervisor import read_state
from apps.integrations.models import (
    InboundEvent,
    Integration,
    OutboundDelivery,
    PublishFailureStat,
    ReconciliationRun,
)
from apps.mappings.models import ResolutionStat
from apps.monitoring import sql
from apps.monitoring.models import LATENCY_BOUNDS_MS, Alert, InboundHourlyStat
from apps.risk.selectors import risk_figures

# Histogram buckets exposed (seconds): a subset of the rollup's bounds, so each is exact.
_EXPOSED_BOUNDS_MS = [
    b
    for b in LATENCY_BOUNDS_MS
    if any(
        abs(b - t) / t < 0.13
        for t in (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000)
    )
]


class DatabaseCollector:
    """Collects AffiliateHub's metrics from the database (12 queries per scrape)."""

    def collect(self):
        slugs = dict(Integration.objects.values_list("pk", "slug"))
        yield from self._inbound(slugs)
        yield from self._latency(slugs)
        yield from self._depth(slugs)
        yield from self._outbound()
        yield from self._resolution()
        yield from self._reconciliation(slugs)
        yield from self._alerts()
        yield from self._risk()
        yield from self._runtime()

    def _inbound(self, slugs):
        fields = {
            "received": "Inbound events stored (every outcome).",
            "invalid": "Inbound events stored as invalid (422).",
            "conflicts": "Inbound deliveries refused as 409 (same webhook id, other body).",
            "processed": "Inbound events processed.",
            "retried": "Inbound events processed after failed attempts.",
        }
        rows = InboundHourlyStat.objects.values("integration_id").annotate(
            **{name: Sum(name) for name in fields}
        )
        families = {
            name: CounterMetricFamily(
                f"affiliatehub_inbound_{name}", help_text, labels=["integration"]
            )
            for name, help_text in fields.items()
        }
        for row in rows:
            for name, family in families.items():
                family.add_metric([slugs.get(row["integration_id"], "?")], row[name] or 0)
        yield from families.values()

    def _latency(self, slugs):
        family = HistogramMetricFamily(
            "affiliatehub_inbound_processing_latency_seconds",
            "Receipt-to-processed latency of processed inbound events.",
            labels=["integration"],
        )
        buckets: dict[int, dict[int, int]] = defaultdict(dict)
        for integration_id, index, count in sql.latency_bucket_totals():
            buckets[integration_id][index - 1] = int(count)
        sums = dict(
            InboundHourlyStat.objects.values("integration_id")
            .annotate(s=Sum("latency_sum_ms"))
            .values_list("integration_id", "s")
        )
        for integration_id, counts in buckets.items():
            cumulative, out, index = 0, [], 0
            for bound in _EXPOSED_BOUNDS_MS:
                while index < len(LATENCY_BOUNDS_MS) and LATENCY_BOUNDS_MS[index] <= bound:
                    cumulative += counts.get(index, 0)
                    index += 1
                out.append((f"{bound / 1000:g}", cumulative))
            total = sum(counts.values())
            out.append(("+Inf", total))
            family.add_metric(
                [slugs.get(integration_id, "?")],
                out,
                sum_value=(sums.get(integration_id) or 0) / 1000,
            )
        yield family

    def _depth(self, slugs):
        family = GaugeMetricFamily(
            "affiliatehub_inbound_queue_depth",
            "Inbound events waiting, by status.",
            labels=["integration", "status"],
        )
        rows = (
            InboundEvent.objects.filter(
                status__in=["received", "failed", "parked", "dead", "invalid"]
            )
            .values("integration_id", "status")
            .annotate(n=Count("id"))
        )
        for row in rows:
            family.add_metric([slugs.get(row["integration_id"], "?"), row["status"]], row["n"])
        yield family

    def _outbound(self):
        by_status = GaugeMetricFamily(
            "affiliatehub_outbound_deliveries", "Outbound deliveries by status.", labels=["status"]
        )
        attempts = CounterMetricFamily(
            "affiliatehub_outbound_attempts", "HTTP attempts made by outbound deliveries."
        )
        total_attempts = 0
        for row in OutboundDelivery.objects.values("status").annotate(
            n=Count("id"), a=Sum("attempts")
        ):
            by_status.add_metric([row["status"]], row["n"])
            total_attempts += row["a"] or 0
        attempts.add_metric([], total_attempts)
        yield by_status
        yield attempts

    def _resolution(self):
        lookups = CounterMetricFamily(
            "affiliatehub_resolution_lookups", "Identifier lookups.", labels=["system"]
        )
        misses = CounterMetricFamily(
            "affiliatehub_resolution_misses",
            "Identifier lookups that found no player.",
            labels=["system"],
        )
        for row in ResolutionStat.objects.values("system").annotate(
            l=Sum("lookups"), m=Sum("misses")
        ):
            lookups.add_metric([row["system"]], row["l"] or 0)
            misses.add_metric([row["system"]], row["m"] or 0)
        yield lookups
        yield misses

    def _reconciliation(self, slugs):
        recovered = CounterMetricFamily(
            "affiliatehub_reconciliation_recovered",
            "Events polling recovered that webhooks had missed.",
            labels=["integration"],
        )
        for row in ReconciliationRun.objects.values("integration_id").annotate(d=Sum("delta")):
            recovered.add_metric([slugs.get(row["integration_id"], "?")], row["d"] or 0)
        yield recovered

    def _alerts(self):
        family = GaugeMetricFamily(
            "affiliatehub_alerts_open",
            "Open alerts, by rule (event alerts by kind).",
            labels=["rule"],
        )
        for row in (
            Alert.objects.filter(resolved_at__isnull=True)
            .annotate(label=Coalesce("rule__name", "kind"))
            .values("label")
            .annotate(n=Count("id"))
        ):
            family.add_metric([row["label"]], row["n"])
        yield family

    def _risk(self):
        figures = risk_figures()
        opened = CounterMetricFamily(
            "affiliatehub_risk_cases_opened", "Risk cases opened (issue 17), in all."
        )
        opened.add_metric([], figures["cases_opened_total"])
        yield opened
        live = GaugeMetricFamily("affiliatehub_risk_cases_open", "Risk cases open or escalated.")
        live.add_metric([], figures["cases_live"])
        yield live
        held = GaugeMetricFamily(
            "affiliatehub_risk_held_amount",
            "Commission held by open risk cases, per currency.",
            labels=["currency"],
        )
        for currency, amount in figures["held"].items():
            held.add_metric([currency], float(amount))
        yield held
        decisions = CounterMetricFamily(
            "affiliatehub_risk_decisions",
            "Decisions on risk cases, by action (rate() over a day: decisions per day).",
            labels=["action"],
        )
        for action in ("escalate", "clear", "confirm"):
            decisions.add_metric([action], figures["decisions_total"].get(action, 0))
        yield decisions

    def _runtime(self):
        failures = CounterMetricFamily(
            "affiliatehub_publish_failures",
            "Task publishes the broker did not take (the outbox sweeper enqueued those events "
            "later).",
        )
        failures.add_metric([], PublishFailureStat.objects.aggregate(n=Sum("failures"))["n"] or 0)
        yield failures
        state = read_state()
        if state is not None:
            restarts = CounterMetricFamily(
                "affiliatehub_supervisor_restarts",
                "Processes restarted by the make-run supervisor.",
                labels=["process"],
            )
            for name, child in state.children.items():
                restarts.add_metric([name], child.restarts)
            yield restarts


def registry() -> CollectorRegistry:
    """A fresh registry holding only the database collector (built per scrape: it is cheap)."""
    reg = CollectorRegistry(auto_describe=False)
    reg.register(DatabaseCollector())
    return reg
