"""Silence is an alert: a source's volume against its usual for the hour of the day, a source
that sends nothing, and poll runs failing in a row. Baselines are built from stored events."""

import datetime as dt
from decimal import Decimal

import factory
import pytest
from django.urls import reverse

from apps.integrations.models import InboundEvent, OutboundDelivery, OutboundEndpoint
from apps.monitoring.models import Alert, AlertRule
from apps.monitoring.rollups import inbound_rollup_refresh
from apps.monitoring.services import alert_rules_evaluate
from tests.factories import UserFactory
from tests.integrations.factories import (
    InboundEventFactory,
    IntegrationFactory,
    ReconciliationRunFactory,
)

pytestmark = pytest.mark.django_db

# A Friday afternoon: 14:30 UTC. The last 60 minutes are 13:30-14:30.
NOW = dt.datetime(2026, 11, 20, 14, 30, tzinfo=dt.UTC)
TODAY = NOW.replace(hour=0, minute=0)


def send(integration, at: dt.datetime, count: int, *, source=InboundEvent.Source.WEBHOOK) -> None:
    """`count` events received one second apart from `at`."""
    InboundEvent.objects.bulk_create(
        InboundEventFactory.build_batch(
            count,
            integration=integration,
            source=source,
            status="processed",
            received_at=factory.Iterator(
                [at + dt.timedelta(seconds=i) for i in range(count)], cycle=False
            ),
        )
    )


def usual(integration, *, per_hour: dict[int, int], days: int = 14) -> None:
    """The source's history: `per_hour[h]` events in hour h (UTC) on each of the last `days`
    days."""
    for day in range(1, days + 1):
        for hour, count in per_hour.items():
            send(integration, TODAY - dt.timedelta(days=day) + dt.timedelta(hours=hour), count)


def roll_up(until=NOW) -> None:
    inbound_rollup_refresh(since=until - dt.timedelta(days=15), until=until)


def evaluate(at=NOW):
    roll_up(at)
    return alert_rules_evaluate(now=at)


def open_alerts(rule):
    return list(
        Alert.objects.filter(rule=rule, resolved_at__isnull=True).values_list("scope", "value")
    )


@pytest.fixture
def rule():
    """Only the default source rule of the metric asked for is active."""

    def pick(metric, **changes):
        AlertRule.objects.update(is_active=False)
        chosen = AlertRule.objects.get(metric=metric)
        for name, value in {"is_active": True, **changes}.items():
            setattr(chosen, name, value)
        chosen.save()
        return chosen

    return pick


def test_defaults_come_from_the_migration():
    rules = {
        r.metric: r
        for r in AlertRule.objects.filter(
            metric__in=["volume_vs_baseline", "silent_minutes", "poll_failures_in_a_row"]
        )
    }
    volume, silence, polls = (
        rules["volume_vs_baseline"],
        rules["silent_minutes"],
        rules["poll_failures_in_a_row"],
    )
    assert (volume.comparison, volume.threshold, volume.min_samples, volume.baseline_days) == (
        "lt",
        25,
        20,
        14,
    )
    assert (silence.comparison, silence.threshold) == ("ge", 30)
    assert (polls.comparison, polls.threshold) == ("ge", 3)
    assert all(r.is_active and r.integration is None for r in rules.values())


# --- volume against the usual for the hour of the day ---------------------------------------


def test_a_normally_busy_hour_going_below_the_fraction_fires(rule):
    volume = rule("volume_vs_baseline")
    crm = IntegrationFactory(slug="crm-busy")
    usual(crm, per_hour={13: 40, 14: 40})
    send(crm, TODAY.replace(hour=13), 6)
    send(crm, TODAY.replace(hour=14), 2)

    result = evaluate()

    # 2 this hour + half of 13:00's 6 = 5 events, against the usual 40: 12.5 %.
    assert len(result.fired) == 1
    alert = Alert.objects.get()
    assert (alert.rule, alert.scope, alert.integration, alert.value) == (
        volume,
        "crm-busy",
        crm,
        Decimal("12.5"),
    )
    assert (
        "crm-busy sent 5 events in the last 60 minutes" in alert.message
        and "usual 40" in alert.message
    )


def test_usual_volume_does_not_fire(rule):
    rule("volume_vs_baseline")
    crm = IntegrationFactory(slug="crm-steady")
    usual(crm, per_hour={13: 40, 14: 40})
    send(crm, TODAY.replace(hour=13), 40)
    send(crm, TODAY.replace(hour=14), 18)

    assert evaluate().fired == []
    assert not Alert.objects.exists()


def test_a_quiet_hour_that_is_normally_quiet_does_not_fire(rule):
    rule("volume_vs_baseline")  # minimum baseline 20 events
    crm = IntegrationFactory(slug="crm-night")
    usual(crm, per_hour={2: 3, 3: 3, 13: 40, 14: 40})
    at = TODAY.replace(hour=3, minute=30)

    result = evaluate(at)  # nothing at all since midnight: 0 % of a usual 3

    assert result.fired == [] and result.skipped == 1
    assert not Alert.objects.exists()


def test_one_odd_day_in_the_baseline_does_not_move_the_usual(rule):
    volume = rule("volume_vs_baseline")
    crm = IntegrationFactory(slug="crm-burst")
    usual(crm, per_hour={13: 40, 14: 40}, days=6)
    send(crm, TODAY - dt.timedelta(days=7) + dt.timedelta(hours=13), 3000)  # a one-off burst
    send(crm, TODAY.replace(hour=13), 30)
    send(crm, TODAY.replace(hour=14), 15)

    evaluate()

    # 15 + 30/2 = 30 of a median 40 (the burst day counts once, like any other): 75 %, no alert.
    assert open_alerts(volume) == []


def test_a_new_source_is_measured_only_against_the_days_it_existed(rule):
    volume = rule("volume_vs_baseline")
    crm = IntegrationFactory(slug="crm-new")
    usual(crm, per_hour={13: 60, 14: 60}, days=2)  # two days old: the other 12 days are not zeros

    evaluate()

    assert open_alerts(volume) == [("crm-new", Decimal("0.00"))]


def test_recovery_resolves_the_volume_alert(rule):
    volume = rule("volume_vs_baseline")
    crm = IntegrationFactory(slug="crm-back")
    usual(crm, per_hour={13: 40, 14: 40})
    assert len(evaluate().fired) == 1

    send(crm, NOW + dt.timedelta(minutes=1), 40)  # volume returns
    later = NOW + dt.timedelta(minutes=10)
    result = evaluate(later)

    assert len(result.resolved) == 1
    alert = Alert.objects.get(rule=volume)
    assert alert.resolved_at == later and alert.value == Decimal("100.00")


def test_events_recovered_by_polling_are_not_the_source_sending(rule):
    volume = rule("volume_vs_baseline")
    crm = IntegrationFactory(slug="crm-polled")
    usual(crm, per_hour={13: 40, 14: 40})
    send(crm, TODAY.replace(hour=14), 40, source=InboundEvent.Source.POLL)

    evaluate()

    assert [scope for scope, _ in open_alerts(volume)] == ["crm-polled"]


# --- nothing for N minutes ------------------------------------------------------------------


def test_nothing_for_n_minutes_fires_and_an_event_resolves_it(
    rule, django_capture_on_commit_callbacks
):
    endpoint = OutboundEndpoint.objects.create(
        name="pager",
        kind="subscriber",
        url="https://pager.example/hook",
        secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    )
    silence = rule(
        "silent_minutes", notify_email="ops@example.com", webhook_endpoint=endpoint
    )  # 30 minutes
    crm = IntegrationFactory(slug="crm-quiet")
    send(crm, NOW - dt.timedelta(minutes=31), 1)

    assert evaluate(NOW - dt.timedelta(minutes=2)).fired == []  # 29 minutes: not yet
    with django_capture_on_commit_callbacks(execute=False) as after_commit:
        fired = evaluate().fired

    assert len(fired) == 1
    assert any(
        c.__qualname__.startswith("_notify") for c in after_commit
    )  # the e-mail task, queued after commit
    alert = Alert.objects.get(pk=fired[0])
    assert (alert.rule, alert.scope, alert.value) == (silence, "crm-quiet", Decimal("31"))
    assert "crm-quiet has sent nothing for 31 minutes" in alert.message
    delivery = OutboundDelivery.objects.get(event_type="alert.fired")
    assert delivery.payload["data"]["scope"] == "crm-quiet"
    assert delivery.payload["data"]["metric"] == "silent_minutes"

    # Still silent: the same alert, its figure kept current.
    assert evaluate(NOW + dt.timedelta(minutes=10)).fired == []
    alert.refresh_from_db()
    assert alert.value == Decimal("41")

    send(crm, NOW + dt.timedelta(minutes=11), 1)
    result = evaluate(NOW + dt.timedelta(minutes=12))
    assert result.resolved == [alert.pk]
    assert OutboundDelivery.objects.filter(event_type="alert.resolved").count() == 1


def test_silence_with_a_minimum_baseline_spares_a_normally_quiet_hour(rule):
    silence = rule("silent_minutes", min_samples=20)
    crm = IntegrationFactory(slug="crm-office-hours")
    usual(crm, per_hour={13: 40, 14: 40})

    at_night = TODAY.replace(hour=3, minute=30)
    assert evaluate(at_night).fired == []
    assert open_alerts(silence) == []

    # The same silence in the afternoon, when it usually sends 40 an hour, fires.
    assert len(evaluate().fired) == 1
    assert open_alerts(silence)[0][0] == "crm-office-hours"


def test_a_source_that_never_sent_anything_is_not_silent(rule):
    rule("silent_minutes")
    IntegrationFactory(slug="crm-unused")

    assert evaluate().fired == []


# --- poll runs failing in a row -------------------------------------------------------------


def runs(integration, statuses: str, *, start=NOW - dt.timedelta(hours=10)):
    """One hourly run per letter, oldest first: F failed, S succeeded."""
    for index, letter in enumerate(statuses):
        ReconciliationRunFactory(
            integration=integration,
            started_at=start + dt.timedelta(hours=index),
            status="failed" if letter == "F" else "succeeded",
        )


def test_k_failed_poll_runs_in_a_row_fire_and_a_success_resolves(rule):
    polls = rule("poll_failures_in_a_row")  # 3
    mt5 = IntegrationFactory(slug="mt5-live")
    runs(mt5, "SFF")
    assert evaluate().fired == []

    runs(mt5, "F", start=NOW - dt.timedelta(minutes=5))
    fired = evaluate().fired

    assert len(fired) == 1
    alert = Alert.objects.get(pk=fired[0])
    assert (alert.rule, alert.scope, alert.value) == (polls, "mt5-live", Decimal("3"))
    assert (
        "3 poll run(s) failed in a row" in alert.message
        and "503 Service Unavailable" in alert.message
    )

    runs(mt5, "S", start=NOW)
    assert evaluate(NOW + dt.timedelta(minutes=1)).resolved == [alert.pk]


def test_a_success_in_between_resets_the_count(rule):
    polls = rule("poll_failures_in_a_row")
    mt5 = IntegrationFactory(slug="mt5-flaky")
    runs(mt5, "FFSFF")

    assert evaluate().fired == []
    assert open_alerts(polls) == []


# --- parameters on the rule, in the admin ---------------------------------------------------


def test_parameters_are_edited_on_the_rule_in_the_admin(client):
    volume = AlertRule.objects.get(metric="volume_vs_baseline")
    client.force_login(UserFactory(is_superuser=True))
    url = reverse("admin:monitoring_alertrule_change", args=[volume.pk])
    form = {
        "name": volume.name,
        "metric": volume.metric,
        "comparison": "lt",
        "threshold": "40",
        "window": "1h",
        "integration": "",
        "min_samples": "50",
        "is_active": "on",
        "baseline_days": "7",
        "notify_email": "",
        "webhook_endpoint": "",
    }
    assert "Source rules" in client.get(url).content.decode()

    assert (
        client.post(url, {**form, "comparison": "gt"}).status_code == 200
    )  # refused: volume fires below
    volume.refresh_from_db()
    assert volume.threshold == 25

    assert client.post(url, form).status_code == 302
    volume.refresh_from_db()
    assert (volume.threshold, volume.min_samples, volume.baseline_days) == (40, 50, 7)
