"""Alert firing, recovery, idempotency, notifications and acknowledgement; dashboard; /metrics."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core import mail
from django.urls import reverse

from apps.core.models import AuditLog
from apps.integrations.models import InboundEvent, OutboundDelivery, OutboundEndpoint
from apps.monitoring import tasks
from apps.monitoring.models import Alert, AlertRule
from apps.monitoring.rollups import inbound_rollup_refresh
from apps.monitoring.services import alert_rules_evaluate
from tests.factories import UserFactory
from tests.integrations.factories import IntegrationFactory

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 20, 12, 30, tzinfo=dt.UTC)
HOUR = NOW.replace(minute=0)


def events(integration, count, *, status="processed", latency_ms=100, start=0):
    received = HOUR + dt.timedelta(minutes=1)
    InboundEvent.objects.bulk_create(
        [
            InboundEvent(
                integration=integration,
                webhook_id=f"m-{start + i}",
                event_type="deposit.created",
                body_hash="x",
                received_at=received,
                status=status,
                processed_at=received + dt.timedelta(milliseconds=latency_ms)
                if status == "processed"
                else None,
            )
            for i in range(count)
        ]
    )
    inbound_rollup_refresh(since=HOUR, until=NOW)


@pytest.fixture
def only_rule():
    """Just the rule under test (the defaults from the migration are switched off)."""
    AlertRule.objects.update(is_active=False)

    def make(**kwargs):
        return AlertRule.objects.create(
            **{"name": "rule", "window": "1h", "min_samples": 10, **kwargs}
        )

    return make


def test_default_rules_exist_from_the_migration():
    metrics = set(AlertRule.objects.values_list("metric", flat=True))
    assert {
        "delivery_success_rate",
        "latency_p95_ms",
        "miss_rate_rise",
        "reconciliation_delta",
        "dead_letters",
    } <= metrics
    rule = AlertRule.objects.get(metric="delivery_success_rate")
    assert (rule.comparison, rule.threshold) == ("lt", Decimal("99.5"))


def test_latency_alert_fires_once_then_recovers(only_rule, django_capture_on_commit_callbacks):
    crm = IntegrationFactory(slug="crm-x")
    rule = only_rule(
        metric="latency_p95_ms",
        comparison="gt",
        threshold=Decimal("500"),
        integration=crm,
        notify_email="ops@example.com",
    )
    events(crm, 50, latency_ms=2000)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        first = alert_rules_evaluate(now=NOW)
    assert len(first.fired) == 1 and len(callbacks) == 1
    alert = Alert.objects.get()
    assert alert.rule == rule and alert.scope == "crm-x" and alert.resolved_at is None
    assert alert.value > 500
    # Evaluating again while still breached changes nothing: one open alert per rule and scope.
    second = alert_rules_evaluate(now=NOW)
    assert second.fired == [] and Alert.objects.count() == 1

    # The e-mail task sends once, even if it runs twice.
    assert tasks.email_alert(alert.pk, "fired") is True
    assert tasks.email_alert(alert.pk, "fired") is False
    assert (
        len(mail.outbox) == 1
        and "ALERT" in mail.outbox[0].subject
        and mail.outbox[0].to == ["ops@example.com"]
    )

    # Recovery: fast events bring the p95 down; the alert resolves, once.
    InboundEvent.objects.all().delete()
    events(crm, 50, latency_ms=20, start=1000)
    third = alert_rules_evaluate(now=NOW + dt.timedelta(minutes=1))
    assert third.resolved == [alert.pk]
    alert.refresh_from_db()
    assert alert.resolved_at == NOW + dt.timedelta(minutes=1)
    assert alert_rules_evaluate(now=NOW + dt.timedelta(minutes=2)).resolved == []
    assert AuditLog.objects.filter(action="alert.fired").count() == 1
    assert AuditLog.objects.filter(action="alert.resolved").count() == 1

    # A new breach opens a new alert.
    events(crm, 200, latency_ms=5000, start=2000)
    assert len(alert_rules_evaluate(now=NOW + dt.timedelta(minutes=3)).fired) == 1
    assert Alert.objects.filter(resolved_at__isnull=True).count() == 1


def test_too_few_samples_is_not_judged_but_a_source_with_no_data_is_an_alert(only_rule):
    crm = IntegrationFactory(slug="crm-y")
    rate_rule = only_rule(
        metric="processing_success_rate",
        comparison="lt",
        threshold=Decimal("99.5"),
        integration=crm,
        min_samples=10,
    )
    events(crm, 5, status="dead")
    result = alert_rules_evaluate(now=NOW)
    assert result.fired == [] and result.skipped == 1
    events(crm, 20, status="dead", start=100)
    assert len(alert_rules_evaluate(now=NOW).fired) == 1

    # Then the source sends nothing. A rate has nothing to say about no data (its alert stays
    # open: no data is not a recovery), but silence is an alert of its own.
    AlertRule.objects.filter(metric="silent_minutes").update(is_active=True)
    later = HOUR + dt.timedelta(hours=3)
    result = alert_rules_evaluate(now=later)
    assert result.resolved == []
    silence = Alert.objects.get(pk__in=result.fired)
    assert (
        silence.rule.metric == "silent_minutes" and silence.scope == "crm-y" and silence.value >= 30
    )
    assert Alert.objects.filter(rule=rate_rule, resolved_at__isnull=True).count() == 1


def test_dead_letters_alert_with_signed_webhook_through_the_outbound_engine(only_rule):
    crm = IntegrationFactory(slug="crm-z")
    endpoint = OutboundEndpoint.objects.create(
        name="pager",
        kind="subscriber",
        url="https://pager.example/hook",
        secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    )
    only_rule(
        metric="dead_letters",
        comparison="gt",
        threshold=Decimal("0"),
        min_samples=0,
        webhook_endpoint=endpoint,
    )
    events(crm, 2, status="dead")
    fired = alert_rules_evaluate(now=NOW).fired
    assert len(fired) == 1
    delivery = OutboundDelivery.objects.get()
    assert delivery.endpoint == endpoint and delivery.event_type == "alert.fired"
    assert (
        delivery.payload["data"]["alert_id"] == fired[0]
        and delivery.payload["data"]["value"] == "2"
    )
    assert delivery.idempotency_key == f"monitoring-alert:{fired[0]}:fired"


def test_acknowledge_in_the_admin_needs_the_permission(client):
    rule = AlertRule.objects.first()
    alert = Alert.objects.create(
        rule=rule, scope="all", value=Decimal("1"), threshold=rule.threshold, message="m"
    )
    url = reverse("admin:monitoring_alert_changelist")
    retention = UserFactory(roles=["Retention"])
    client.force_login(retention)
    assert client.get(url).status_code == 403
    engineer = UserFactory(roles=["Integrations"])
    client.force_login(engineer)
    response = client.post(
        url, {"action": "acknowledge", "_selected_action": [alert.pk]}, follow=True
    )
    assert response.status_code == 200
    alert.refresh_from_db()
    assert alert.acknowledged_by == engineer and alert.acknowledged_at is not None
    assert AuditLog.objects.filter(action="alert.acknowledged", actor=engineer).exists()


def test_dashboard_is_staff_only_and_shows_figures_alerts_and_links(
    client, django_assert_max_num_queries
):
    crm = IntegrationFactory(slug="crm-d")
    events(crm, 30, latency_ms=50)
    rule = AlertRule.objects.get(metric="dead_letters")
    Alert.objects.create(
        rule=rule, scope="all", value=Decimal("3"), threshold=rule.threshold, message="m"
    )
    url = reverse("monitoring-dashboard")
    assert client.get(url).status_code == 302  # to the admin login
    client.force_login(UserFactory(is_staff=False, username="nostaff"))
    assert client.get(url).status_code == 302
    client.force_login(UserFactory(roles=["Integrations"]))
    with django_assert_max_num_queries(20):
        response = client.get(url, {"window": "7d"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "vendor/chart.umd.js" in html and 'id="health-chart-data"' in html
    assert "Dead letters waiting" in html and 'data-scope="crm-d"' in html
    assert reverse("admin:integrations_parkedevent_changelist") + "?integration__id__exact=" in html
    index = client.get(reverse("admin:index")).content.decode()
    assert url in index


def test_metrics_endpoint_reads_the_database(client):
    crm = IntegrationFactory(slug="crm-m")
    events(crm, 12, latency_ms=40)
    events(crm, 2, status="parked", start=100)
    body = client.get("/metrics").content.decode()
    assert 'affiliatehub_inbound_received_total{integration="crm-m"} 14.0' in body
    assert 'affiliatehub_inbound_processed_total{integration="crm-m"} 12.0' in body
    assert 'affiliatehub_inbound_queue_depth{integration="crm-m",status="parked"} 2.0' in body
    assert 'affiliatehub_inbound_processing_latency_seconds_count{integration="crm-m"} 12.0' in body
    assert 'affiliatehub_inbound_processing_latency_seconds_sum{integration="crm-m"} 0.48' in body
    buckets = {}
    for line in body.splitlines():
        if line.startswith(
            'affiliatehub_inbound_processing_latency_seconds_bucket{integration="crm-m"'
        ):
            le = line.split('le="')[1].split('"')[0]
            buckets[float(le)] = float(line.rsplit(" ", 1)[1])
    assert buckets[float("inf")] == 12
    assert all(count == 0 for le, count in buckets.items() if le < 0.039)
    assert all(count == 12 for le, count in buckets.items() if le > 0.041)
    assert len(buckets) >= 10
    assert client.get("/healthz").status_code == 200


def test_dashboard_warns_of_events_in_the_default_partition(client):
    """The event store's safety net is monitored: rows there mean a month had no partition."""
    crm = IntegrationFactory(slug="crm-p")
    url = reverse("monitoring-dashboard")
    client.force_login(UserFactory(roles=["Integrations"]))
    assert 'id="unpartitioned-events"' not in client.get(url).content.decode()
    InboundEvent.objects.create(  # a month far ahead: no partition yet
        integration=crm,
        webhook_id="far",
        body_hash="x",
        received_at=dt.datetime(2041, 5, 1, tzinfo=dt.UTC),
    )
    html = client.get(url).content.decode()
    assert 'id="unpartitioned-events"' in html
    assert "1 inbound event(s) sit in the event store&#x27;s default partition" in html or (
        "1 inbound event(s) sit in the event store's default partition" in html
    )
