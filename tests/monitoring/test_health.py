"""Health metrics on known data: rollup, rates, percentiles, resolution, depth, outbound, recon."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.core.rates import rate
from apps.integrations.models import (
    InboundConflict,
    InboundEvent,
    OutboundDelivery,
    OutboundEndpoint,
    ReconciliationRun,
)
from apps.mappings.models import ResolutionStat
from apps.monitoring.health import health_report, histogram_percentile, judge
from apps.monitoring.models import LATENCY_BOUNDS_MS, InboundHourlyStat
from apps.monitoring.rollups import inbound_rollup_refresh
from tests.integrations.factories import IntegrationFactory

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 20, 12, 30, tzinfo=dt.UTC)
HOUR = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)


def event(integration, n, *, status="processed", latency_ms=None, received_at=None, attempts=0):
    received_at = received_at or HOUR + dt.timedelta(minutes=5)
    processed_at = (
        received_at + dt.timedelta(milliseconds=latency_ms) if latency_ms is not None else None
    )
    return InboundEvent.objects.create(
        integration=integration,
        webhook_id=f"msg-{integration.slug}-{n}",
        event_type="deposit.created",
        body_hash="x",
        received_at=received_at,
        status=status,
        processed_at=processed_at,
        attempts=attempts,
    )


def test_rate_and_judge():
    assert rate(995, 1000) == Decimal("99.50")
    assert rate(2, 3) == Decimal("66.67")
    assert rate(1, 0) is None
    assert judge("delivery_success_rate", Decimal("99.4")) == "bad"
    assert judge("delivery_success_rate", Decimal("99.6")) == "warn"
    assert judge("delivery_success_rate", Decimal("100")) == "ok"
    assert judge("latency_p95_ms", 501) == "bad"
    assert judge("dead_letters", 0) == "ok" and judge("dead_letters", 1) == "bad"
    assert judge("miss_rate", None) == "none"


def test_histogram_percentile_interpolates_inside_a_bucket():
    buckets = [0] * (len(LATENCY_BOUNDS_MS) + 1)
    # 100 events between bound[20] and bound[21]: p50 is halfway through that bucket.
    buckets[21] = 100
    low, high = LATENCY_BOUNDS_MS[20], LATENCY_BOUNDS_MS[21]
    assert histogram_percentile(buckets, 0.5) == pytest.approx(low + (high - low) * 0.5, abs=0.1)
    assert histogram_percentile([0] * 5, 0.5) is None


def test_rollup_counts_statuses_and_exact_hourly_percentiles():
    crm = IntegrationFactory(slug="crm-a")
    latencies = [10 * (i + 1) for i in range(100)]  # 10, 20, ..., 1000 ms
    for i, ms in enumerate(latencies):
        event(crm, i, latency_ms=ms, attempts=1 if i < 3 else 0)
    event(crm, 200, status="invalid")
    event(crm, 201, status="dead", attempts=8)
    event(crm, 202, status="failed", attempts=2)
    event(crm, 203, status="parked")
    event(crm, 204, status="received")
    InboundConflict.objects.create(
        integration=crm,
        original=InboundEvent.objects.first(),
        webhook_id="msg-crm-a-0",
        body_hash="y",
        source="webhook",
        received_at=HOUR + dt.timedelta(minutes=9),
    )
    event(
        crm, 300, received_at=HOUR - dt.timedelta(hours=5), latency_ms=5
    )  # outside the refreshed hours

    written = inbound_rollup_refresh(since=HOUR, until=NOW)
    assert written == 1
    stat = InboundHourlyStat.objects.get(integration=crm, hour=HOUR)
    assert (
        stat.received,
        stat.invalid,
        stat.processed,
        stat.dead,
        stat.failing,
        stat.parked,
        stat.pending,
    ) == (105, 1, 100, 1, 1, 1, 1)
    assert stat.conflicts == 1 and stat.retried == 3
    # percentile_cont over 10..1000: p50 = 505, p95 = 950.5, p99 = 990.1
    assert stat.latency_p50_ms == pytest.approx(505)
    assert stat.latency_p95_ms == pytest.approx(950.5)
    assert stat.latency_p99_ms == pytest.approx(990.1)
    assert sum(stat.latency_buckets) == 100
    assert stat.latency_sum_ms == pytest.approx(sum(latencies))
    # Refreshing again gives the same row (idempotent upsert).
    inbound_rollup_refresh(since=HOUR, until=NOW)
    assert InboundHourlyStat.objects.count() == 1

    report = health_report(window="1h", now=NOW)
    inbound = report.scope("crm-a").inbound
    # accepted = 105 - 1 invalid; offered = 105 stored + 1 refused (409)
    assert inbound.acceptance_rate == rate(104, 106) == Decimal("98.11")
    # processing success = processed / (processed + failing + dead) = 100 / 102
    assert inbound.processing_success_rate == Decimal("98.04")
    # Window percentiles from the histogram agree with percentile_cont within one bucket (25 %).
    assert inbound.latency(0.5) == pytest.approx(505, rel=0.25)
    assert inbound.latency(0.95) == pytest.approx(950.5, rel=0.25)
    assert report.overall.inbound.received == 105
    figures = report.overall.judged()
    assert figures["acceptance_rate"]["status"] == "bad"
    assert figures["latency_p95_ms"]["status"] == "bad"


def test_depth_resolution_outbound_and_reconciliation():
    crm = IntegrationFactory(slug="crm-b", id_system="crm")
    pay = IntegrationFactory(slug="pay-b", id_system="payments", kind="payments")
    event(crm, 1, status="parked")
    event(crm, 2, status="dead")
    event(pay, 3, status="invalid")
    event(pay, 4, status="failed")
    # Resolution: this window 10 misses / 200 lookups = 5 %; the previous 1 / 100 = 1 %.
    ResolutionStat.objects.create(system="crm", hour=HOUR, shard=0, lookups=150, misses=8)
    ResolutionStat.objects.create(system="crm", hour=HOUR, shard=1, lookups=50, misses=2)
    ResolutionStat.objects.create(
        system="crm", hour=HOUR - dt.timedelta(hours=2), shard=0, lookups=100, misses=1
    )
    ResolutionStat.objects.create(system="payments", hour=HOUR, shard=0, lookups=100, misses=0)
    endpoint = OutboundEndpoint.objects.create(
        name="sub",
        kind="subscriber",
        url="https://x.example/h",
        secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    )
    for i, (status, attempts) in enumerate(
        [("succeeded", 1)] * 6 + [("succeeded", 3), ("dead", 8), ("failed", 2), ("pending", 0)]
    ):
        OutboundDelivery.objects.create(
            endpoint=endpoint,
            event_type="payout.approved",
            idempotency_key=f"k{i}",
            message_id=f"m{i}",
            url=endpoint.url,
            status=status,
            attempts=attempts,
        )
    OutboundDelivery.objects.update(
        created_at=HOUR + dt.timedelta(minutes=10)
    )  # auto_now_add: move into the window
    ReconciliationRun.objects.create(
        integration=pay,
        trigger="schedule",
        window_start=HOUR - dt.timedelta(hours=1),
        window_end=HOUR,
        finished_at=NOW - dt.timedelta(minutes=1),
        status="succeeded",
        polled=20,
        already_received=17,
        recovered=3,
    )

    with CaptureQueriesContext(connection) as queries:
        report = health_report(window="1h", now=NOW)
    assert len(queries) <= 8

    crm_scope, pay_scope = report.scope("crm-b"), report.scope("pay-b")
    assert (crm_scope.depth.parked, crm_scope.depth.dead, crm_scope.depth.dead_letters) == (1, 1, 1)
    assert (pay_scope.depth.invalid, pay_scope.depth.failing, pay_scope.depth.dead_letters) == (
        1,
        1,
        1,
    )
    assert report.overall.depth.dead_letters == 2
    assert crm_scope.resolution.miss_rate == Decimal("5.00")
    assert crm_scope.resolution.previous_miss_rate == Decimal("1.00")
    assert crm_scope.resolution.rise == Decimal("4.00")
    assert pay_scope.resolution.miss_rate == Decimal("0.00")
    assert report.overall.resolution.miss_rate == rate(10, 300)
    out = report.overall.outbound
    # Finished: 7 succeeded, 1 failing, 1 dead -> 7 / 9; attempts 6 + 3 + 8 + 2 = 19, retries 19 - 9
    # = 10.
    assert (out.deliveries, out.succeeded, out.failing, out.dead, out.attempts) == (10, 7, 1, 1, 19)
    assert out.success_rate == Decimal("77.78")
    assert out.attempt_success_rate == rate(7, 19)
    assert out.retries == 10
    assert report.overall.outbound_dead == 1
    assert pay_scope.reconciliation.delta == 3 and crm_scope.reconciliation is None
    figures = report.overall.figures()
    assert figures["reconciliation_delta"][0] == 3
    assert figures["dead_letters"][0] == 3  # 2 inbound + 1 outbound
    assert crm_scope.figures()["reconciliation_delta"][0] is None  # no runs: no data


def test_no_data_is_reported_as_none():
    IntegrationFactory(slug="quiet")
    report = health_report(window="7d", now=NOW)
    figures = report.scope("quiet").judged()
    for metric in (
        "acceptance_rate",
        "processing_success_rate",
        "latency_p95_ms",
        "miss_rate",
        "miss_rate_rise",
        "reconciliation_delta",
    ):
        assert figures[metric]["value"] is None and figures[metric]["status"] == "none", metric
    assert report.overall.figures()["delivery_success_rate"][0] is None
    assert len(report.hours) == 7 * 24 + 1
