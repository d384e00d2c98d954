"""Polling connectors end to end against a local HTTP source: windows, cursors, retries,
failures, overlap, and the reconciliation counts they leave behind."""

import datetime as dt

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DataError, connection
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from apps.integrations.inbound import public as inbound_public
from apps.integrations.inbound import services
from apps.integrations.models import (
    EventSource,
    InboundEvent,
    PollConfig,
    ReconciliationRun,
    RecoveredEvent,
)
from apps.integrations.polling.lease import PollLease
from apps.integrations.polling.services import (
    PollBusy,
    PollError,
    integration_poll,
    poll_config_save,
)

from .factories import IntegrationFactory
from .polling_source import PollSource, envelope

pytestmark = pytest.mark.django_db(transaction=True)
NOW = timezone.now()


@pytest.fixture(autouse=True)
def _fast_retries(settings):
    settings.AFFILIATEHUB_POLL_RETRY_BASE_SECONDS = 0.01
    settings.AFFILIATEHUB_POLL_RETRY_CAP_SECONDS = 0.05


@pytest.fixture
def source():
    server = PollSource().start()
    yield server
    server.stop()


@pytest.fixture
def integration():
    return IntegrationFactory(slug="crm-poll")


@pytest.fixture
def config(integration, source):
    return poll_config_save(
        integration=integration,
        url=source.url,
        page_size=3,
        auth_header_name="X-Api-Key",
        auth_header_value="s3cret-key-123",
    )


def _webhook(integration, item):
    """Store an event the way the webhook endpoint does (source webhook, raw-body hash)."""
    body = {k: v for k, v in item.items() if k != "id"}
    event = services.incoming_event(
        integration_kind=integration.kind,
        webhook_id=item["id"],
        envelope=body,
        body_hash=services.item_hash(body),
    )
    services.inbound_event_store(
        integration_id=integration.pk, event=event, source=EventSource.WEBHOOK
    )


def test_window_with_received_and_missed_events(integration, source, config):
    items = [envelope(f"evt_{i}", NOW - dt.timedelta(hours=3, minutes=i)) for i in range(8)]
    source.items = items
    for item in items[:5]:
        _webhook(integration, item)

    run = integration_poll(integration_id=integration.pk)

    assert run.status == "succeeded", run.error
    assert (run.polled, run.already_received, run.previously_polled, run.recovered, run.failed) == (
        8,
        5,
        0,
        3,
        0,
    )
    assert run.delta == 3 and run.pages == 3  # 8 events, 3 per page
    assert InboundEvent.objects.filter(integration=integration).count() == 8, "no duplicates"
    recovered = InboundEvent.objects.filter(recovery__run=run)
    assert set(recovered.values_list("webhook_id", flat=True)) == {"evt_5", "evt_6", "evt_7"}
    assert set(recovered.values_list("source", flat=True)) == {"poll"}
    assert set(recovered.values_list("status", flat=True)) == {"received"}
    config.refresh_from_db()
    assert config.last_window_end == run.window_end
    assert run.window_start == run.window_end - dt.timedelta(
        days=1
    )  # first window: initial lookback
    assert source.headers_seen[0]["X-Api-Key"] == "s3cret-key-123"
    assert {r["since"] for r in source.requests} == {
        run.window_start.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    }


def test_overlapping_windows_count_previous_polls_and_store_nothing_twice(
    integration, source, config
):
    # Relative to this test's clock, not the module's import: a long suite run must not move
    # old_2 out of the overlap.
    now = timezone.now()
    source.items = [
        envelope("old_1", now - dt.timedelta(minutes=40)),
        envelope("old_2", now - dt.timedelta(minutes=5)),
    ]
    first = integration_poll(integration_id=integration.pk)
    assert (first.polled, first.recovered) == (2, 2)

    # Ten minutes later: a late event inside the overlap, and a new one.
    source.items += [
        envelope("late_1", first.window_end - dt.timedelta(minutes=2)),
        envelope("new_1", timezone.now()),
    ]
    PollConfig.objects.filter(pk=config.pk).update(window_overlap=dt.timedelta(minutes=15))
    second = integration_poll(integration_id=integration.pk)

    assert second.window_start == first.window_end - dt.timedelta(minutes=15)
    assert second.status == "succeeded"
    # old_2 (in the overlap) was stored by the first poll; late_1 and new_1 are new.
    assert (second.polled, second.already_received, second.previously_polled, second.recovered) == (
        3,
        1,
        1,
        2,
    )
    assert InboundEvent.objects.filter(integration=integration).count() == 4
    assert RecoveredEvent.objects.filter(run=second).count() == 2


def test_cursor_paging_and_event_types(integration, source, config):
    source.items = [envelope(f"e{i}", NOW - dt.timedelta(minutes=10 + i)) for i in range(7)]
    source.items.append({**envelope("kyc", NOW - dt.timedelta(minutes=1)), "type": "kyc.updated"})
    poll_config_save(integration=integration, event_types=["deposit.created"], page_size=2)
    run = integration_poll(integration_id=integration.pk)
    assert run.status == "succeeded"
    assert run.pages == 4 and run.polled == 7
    assert [r.get("cursor") for r in source.requests] == [None, "2", "4", "6"]
    assert all(r["type"] == "deposit.created" and r["limit"] == "2" for r in source.requests)


def test_transient_failures_are_retried_with_backoff_and_retry_after(integration, source, config):
    source.items = [envelope("a", NOW - dt.timedelta(minutes=3))]
    source.fail_with = [(503, {}), (429, {"Retry-After": "0.03"})]
    waits = []
    run = integration_poll(integration_id=integration.pk, sleep=waits.append)
    assert run.status == "succeeded", run.error
    assert len(source.requests) == 3 and len(waits) == 2
    assert waits[1] >= 0.03  # Retry-After honoured (capped by the retry cap)
    assert run.recovered == 1


def test_failing_poll_is_retried_then_marked_failed_and_the_window_stays_open(
    integration, source, config
):
    source.items = [envelope(f"e{i}", NOW - dt.timedelta(minutes=30 - i)) for i in range(7)]
    source.fail_page = 1  # the second page never answers
    run = integration_poll(integration_id=integration.pk, sleep=lambda s: None)

    assert run.status == "failed"
    assert "HTTP 503" in run.error and run.finished_at is not None
    assert len(source.requests) == 1 + config.max_attempts
    # What was stored is consistent with the counts; the window is not marked done.
    assert (run.pages, run.polled, run.recovered) == (1, 3, 3)
    assert InboundEvent.objects.filter(integration=integration).count() == 3
    config.refresh_from_db()
    assert config.last_window_end is None

    source.fail_page = None
    again = integration_poll(integration_id=integration.pk)
    assert again.status == "succeeded"
    assert (
        again.window_start == run.window_start
        or again.window_start <= run.window_start + dt.timedelta(seconds=5)
    )
    assert (again.polled, again.already_received, again.previously_polled, again.recovered) == (
        7,
        3,
        3,
        4,
    )


def test_a_page_that_cannot_be_stored_leaves_nothing_of_itself(
    integration, source, config, monkeypatch
):
    """Storing page 2 fails after its rows were inserted: its transaction rolls back whole."""
    source.items = [envelope(f"e{i}", NOW - dt.timedelta(minutes=30 - i)) for i in range(5)]
    store = services.inbound_events_store

    def store_then_fail(*, events, **kwargs):
        results = store(events=events, **kwargs)
        if any(event.webhook_id == "e4" for event in events):
            raise DataError("The database refused the page.")
        return results

    monkeypatch.setattr(inbound_public, "inbound_events_store", store_then_fail)
    with pytest.raises(DataError, match="refused the page"):
        integration_poll(integration_id=integration.pk)
    run = ReconciliationRun.objects.get()
    assert run.status == "failed" and run.error
    assert (run.pages, run.polled, run.recovered) == (1, 3, 3)
    assert set(InboundEvent.objects.values_list("webhook_id", flat=True)) == {"e0", "e1", "e2"}
    assert RecoveredEvent.objects.count() == 3


def test_invalid_polled_events_are_stored_as_invalid_and_counted_failed(
    integration, source, config
):
    bad = envelope("bad", NOW - dt.timedelta(minutes=2))
    bad["data"]["amount"] = 12.5  # amounts are decimal strings
    source.items = [bad, envelope("good", NOW - dt.timedelta(minutes=1))]
    run = integration_poll(integration_id=integration.pk)
    assert (run.polled, run.recovered, run.failed) == (2, 1, 1)
    assert InboundEvent.objects.get(webhook_id="bad").status == "invalid"


def test_unreadable_page_fails_the_run(integration, source, config):
    source.fail_with = [(200, {})]  # a 200 whose body is not a page
    run = integration_poll(integration_id=integration.pk)
    assert run.status == "failed" and "PageFormatError" in run.error


def test_one_run_per_integration_at_a_time(integration, source, config):
    other = PollLease(config)  # another worker's run, alive
    assert other.take()
    assert integration_poll(integration_id=integration.pk) is None  # scheduled: skipped
    with pytest.raises(PollBusy):
        integration_poll(integration_id=integration.pk, trigger="manual")
    config.refresh_from_db()
    assert config.lease_owner == other.owner  # the refused runs left it alone
    other.release()
    assert integration_poll(integration_id=integration.pk, trigger="manual").status == "succeeded"


def test_polls_refuse_to_run_inside_a_transaction(integration, config):
    from django.db import transaction

    with transaction.atomic(), pytest.raises(PollError, match="outside transactions"):
        integration_poll(integration_id=integration.pk)
    assert not connection.in_atomic_block


def test_config_save_schedules_one_periodic_task_and_the_daily_reconciliation(integration, source):
    config = poll_config_save(integration=integration, url=source.url)
    task = PeriodicTask.objects.get(pk=config.periodic_task_id)
    assert task.task == "integrations.poll_integration" and task.enabled
    assert (task.interval.every, task.interval.period) == (60, "minutes")
    assert f'"integration_id": {integration.pk}' in task.kwargs
    poll_config_save(integration=integration, interval_minutes=15, enabled=False)
    task.refresh_from_db()
    assert task.interval.every == 15 and not task.enabled
    assert PeriodicTask.objects.filter(task="integrations.poll_integration").count() == 1
    assert PeriodicTask.objects.get(name="integrations: daily reconciliation").crontab.hour == "3"
    with pytest.raises(Exception, match="url"):
        poll_config_save(integration=integration, url="not a url")


def test_backfill_command_polls_the_given_range(integration, source, config, capsys):
    source.items = [
        envelope("march", dt.datetime(2026, 3, 5, tzinfo=dt.UTC)),
        envelope("may", dt.datetime(2026, 5, 5, tzinfo=dt.UTC)),
    ]
    call_command(
        "integration_poll",
        "crm-poll",
        "--since",
        "2026-03-01",
        "--until",
        "2026-04-01T00:00:00+00:00",
    )
    assert "recovered 1" in capsys.readouterr().out
    run = ReconciliationRun.objects.get()
    assert run.trigger == "backfill" and run.window_start == dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    assert list(InboundEvent.objects.values_list("webhook_id", flat=True)) == ["march"]
    config.refresh_from_db()
    assert config.last_window_end is None, "a backfill leaves the schedule's windows alone"
    with pytest.raises(CommandError, match="No integration"):
        call_command("integration_poll", "nope")
