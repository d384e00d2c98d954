"""Processing: handlers, retries with backoff, dead letters and replay, parking, the sweeper."""

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from apps.core.models import AuditLog
from apps.integrations.inbound import registry, services, tasks
from apps.integrations.inbound.registry import EventContext, ParkEvent
from apps.integrations.models import InboundEvent

from .factories import InboundEventFactory, IntegrationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def only_test_handlers():
    """Domain apps register real handlers at start-up; these tests register their own instead.

    The conftest's autouse fixture restores the real registry afterwards.
    """
    registry.restore({})


@pytest.fixture
def admin_client(client, db):
    user = get_user_model().objects.create_superuser("ops", "ops@example.com", "pw")
    client.force_login(user)
    return client


def run(event):
    """What a worker does with a message for this event."""
    return tasks.process_inbound_event.apply(args=[event.pk]).get()


def test_handlers_get_the_context_and_run_in_registration_order():
    calls = []
    registry.register("deposit.created", lambda ctx: calls.append(("first", ctx)))
    registry.register("deposit.created", lambda ctx: calls.append(("second", ctx)))
    integration = IntegrationFactory(slug="pay", kind="payments", id_system="payments")
    event = InboundEventFactory(integration=integration)

    assert run(event) == "processed"

    assert [name for name, _ in calls] == ["first", "second"]
    ctx: EventContext = calls[0][1]
    assert ctx.event_id == event.pk
    assert (ctx.integration_id, ctx.integration_slug, ctx.integration_kind, ctx.id_system) == (
        integration.pk,
        "pay",
        "payments",
        "payments",
    )
    assert (ctx.event_type, ctx.webhook_id, ctx.occurred_at) == (
        "deposit.created",
        event.webhook_id,
        event.occurred_at,
    )
    assert str(ctx.data["amount"]) == "25.00" and ctx.data["currency"] == "EUR"
    event.refresh_from_db()
    assert event.status == "processed" and event.processed_at is not None
    assert run(event) == "skipped"  # a second delivery of the message changes nothing
    assert len(calls) == 2


def test_register_rejects_unknown_types():
    with pytest.raises(ValueError, match="Unknown event type"):
        registry.register("deposit.made", lambda ctx: None)


def test_handler_writes_and_status_commit_together_or_not_at_all():
    def writes_then_fails(ctx):
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE integrations_integration SET name = 'changed by handler' WHERE id = %s",
                [ctx.integration_id],
            )
        raise RuntimeError("boom after a write")

    registry.register("deposit.created", writes_then_fails)
    event = InboundEventFactory()
    assert run(event) == "failed"
    event.integration.refresh_from_db()
    assert event.integration.name != "changed by handler"  # rolled back with the handler


@override_settings(
    AFFILIATEHUB_EVENT_MAX_ATTEMPTS=4,
    AFFILIATEHUB_EVENT_RETRY_BASE_SECONDS=10,
    AFFILIATEHUB_EVENT_RETRY_CAP_SECONDS=60,
)
def test_failing_handler_retries_with_backoff_then_dead_then_replay_from_admin(
    admin_client, published, django_capture_on_commit_callbacks
):
    def broken(ctx):
        raise ValueError(f"cannot book deposit {ctx.data['deposit_id']}")

    registry.register("deposit.created", broken)
    event = InboundEventFactory()
    ceilings = [10, 20, 40]  # base * 2^(n-1), capped at 60
    for attempt, ceiling in enumerate(ceilings, start=1):
        before = timezone.now()
        with django_capture_on_commit_callbacks(execute=True):
            assert run(event) == "failed"
        event.refresh_from_db()
        assert event.status == "failed" and event.attempts == attempt
        assert (
            "ValueError: cannot book deposit" in event.last_error
            and "Traceback" in event.last_error
        )
        delay = (event.next_attempt_at - before).total_seconds()
        assert 1 <= delay <= ceiling + 1
        name, args, countdown = published[-1]
        assert (name, args) == ("integrations.process_inbound_event", [event.pk])
        assert 1 <= countdown <= ceiling
        InboundEvent.objects.filter(pk=event.pk).update(
            next_attempt_at=timezone.now() + dt.timedelta(minutes=1)
        )
        assert run(event) == "skipped"  # not due yet: an early duplicate message does nothing
        InboundEvent.objects.filter(pk=event.pk).update(next_attempt_at=timezone.now())

    assert run(event) == "dead"
    event.refresh_from_db()
    assert event.status == "dead" and event.attempts == 4 and event.next_attempt_at is None
    assert "cannot book deposit" in event.last_error

    # Dead-letter view lists it; the fix is deployed; replay from the admin.
    changelist = reverse("admin:integrations_deadletterevent_changelist")
    assert str(event.webhook_id) in admin_client.get(changelist).content.decode()
    registry.unregister("deposit.created", broken)
    booked = []
    registry.register("deposit.created", booked.append)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            changelist, {"action": "replay_events", "_selected_action": [event.pk]}, follow=True
        )
    assert "Replayed 1 event" in response.content.decode()
    event.refresh_from_db()
    assert event.status == "received" and event.attempts == 0 and event.last_error == ""
    assert published[-1] == ("integrations.process_inbound_event", [event.pk], None)
    assert AuditLog.objects.filter(
        action="inbound_event.replayed", object_id=str(event.pk)
    ).exists()

    assert run(event) == "processed"
    assert [ctx.event_id for ctx in booked] == [event.pk]


def test_no_registered_handler_is_a_failure_not_a_silent_success():
    event = InboundEventFactory(
        event_type="payout.failed",
        payload={
            "type": "payout.failed",
            "timestamp": "2026-11-27T10:00:00Z",
            "data": {"payout_reference": "PO-1", "gateway_reference": "gw-1"},
        },
        integration=IntegrationFactory(slug="gw", kind="payments"),
    )
    assert run(event) == "failed"
    event.refresh_from_db()
    assert "No handler is registered for payout.failed" in event.last_error


def test_replay_refuses_events_that_are_not_dead_or_invalid():
    event = InboundEventFactory(status="processed")
    with pytest.raises(services.InboundEventError):
        services.inbound_event_replay(event=event, acting_user=None)


def test_replay_of_invalid_event_revalidates(published, django_capture_on_commit_callbacks):
    integration = IntegrationFactory(slug="crm-x", kind="crm")
    bad = {
        "type": "deposit.created",
        "timestamp": "2026-11-27T10:00:00Z",
        "data": {"deposit_id": "D", "player_id": "P", "amount": 1.5, "currency": "EUR"},
    }
    event = InboundEventFactory(
        integration=integration, payload=bad, status="invalid", errors={"data.amount": ["float"]}
    )
    with pytest.raises(services.StillInvalid):
        services.inbound_event_replay(event=event, acting_user=None)
    event.refresh_from_db()
    assert event.status == "invalid" and "data.amount" in event.errors
    assert AuditLog.objects.filter(action="inbound_event.replay_rejected").exists()

    # Corrected in the database by the integration team (e.g. after a schema decision):
    InboundEvent.objects.filter(pk=event.pk).update(
        payload={**bad, "data": {**bad["data"], "amount": "1.50"}}
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.inbound_event_replay(event=event, acting_user=None)
    event.refresh_from_db()
    assert event.status == "received" and event.errors == {}
    assert published == [("integrations.process_inbound_event", [event.pk], None)]


def test_parked_events_are_not_failed_and_unpark_in_occurrence_order(
    published, django_capture_on_commit_callbacks
):
    known_players = set()
    processed = []

    def needs_player(ctx):
        if ctx.data["player_id"] not in known_players:
            raise ParkEvent(ctx.id_system, ctx.data["player_id"], "player not mapped yet")
        processed.append(ctx.webhook_id)

    registry.register("deposit.created", needs_player)
    integration = IntegrationFactory(slug="crm-p", kind="crm", id_system="crm")
    base = timezone.now() - dt.timedelta(hours=1)
    # Received in one order, occurred in another.
    late = InboundEventFactory(
        integration=integration, webhook_id="late", occurred_at=base + dt.timedelta(minutes=30)
    )
    early = InboundEventFactory(integration=integration, webhook_id="early", occurred_at=base)
    middle = InboundEventFactory(
        integration=integration, webhook_id="middle", occurred_at=base + dt.timedelta(minutes=10)
    )
    other = InboundEventFactory(integration=integration, webhook_id="other-player")
    InboundEvent.objects.filter(pk=other.pk).update(
        payload={**other.payload, "data": {**other.payload["data"], "player_id": "P-2"}}
    )

    for event in (late, early, middle, other):
        assert run(event) == "parked"
    late.refresh_from_db()
    assert (late.status, late.parked_system, late.parked_external_id, late.attempts) == (
        "parked",
        "crm",
        "P-1",
        0,
    )
    assert late.last_error == "player not mapped yet"

    # The parked admin view shows the unresolved identifier.
    # The player arrives: the mapping service unparks.
    known_players.add("P-1")
    with django_capture_on_commit_callbacks(execute=True):
        assert services.inbound_events_unpark(system="crm", external_id="P-1") == 3
    assert published == [
        ("integrations.process_inbound_events", [[early.pk, middle.pk, late.pk]], None)
    ]
    assert InboundEvent.objects.filter(status="received").count() == 3

    tasks.process_inbound_events.apply(args=published[0][1]).get()
    assert processed == ["early", "middle", "late"]
    assert set(
        InboundEvent.objects.filter(status="processed").values_list("webhook_id", flat=True)
    ) == {"early", "middle", "late"}
    assert InboundEvent.objects.get(pk=other.pk).status == "parked"
    assert services.inbound_events_unpark(system="crm", external_id="nobody") == 0


def test_parked_admin_lists_the_identifier(admin_client):
    InboundEventFactory(
        status="parked",
        parked_system="mt5-live",
        parked_external_id="50123",
        parked_at=timezone.now(),
    )
    page = admin_client.get(reverse("admin:integrations_parkedevent_changelist")).content.decode()
    assert "mt5-live" in page and "50123" in page


def test_sweeper_requeues_stuck_and_due_events(published, django_capture_on_commit_callbacks):
    now = timezone.now()
    stuck = InboundEventFactory(received_at=now - dt.timedelta(minutes=5))
    fresh = InboundEventFactory(received_at=now - dt.timedelta(seconds=5))
    due = InboundEventFactory(
        status="failed", attempts=2, next_attempt_at=now - dt.timedelta(minutes=5)
    )
    not_due = InboundEventFactory(
        status="failed", attempts=2, next_attempt_at=now + dt.timedelta(minutes=5)
    )
    trade = InboundEventFactory(
        event_type="trade.closed", received_at=now - dt.timedelta(minutes=5)
    )

    with django_capture_on_commit_callbacks(execute=True):
        result = tasks.sweep_inbound_events.apply().get()
    assert result["requeued_received"] == 2 and result["requeued_failed"] == 1
    queued = {
        event_id
        for _, args, _ in published
        for event_id in (args[0] if isinstance(args[0], list) else args)
    }
    assert queued == {stuck.pk, due.pk, trade.pk}
    assert fresh.pk not in queued and not_due.pk not in queued
    assert [args for name, args, _ in published if "trade" in name] == [[[trade.pk]]]

    # Swept rows are left alone for a while: running again right away re-sends nothing.
    published.clear()
    with django_capture_on_commit_callbacks(execute=True):
        result = tasks.sweep_inbound_events.apply().get()
    assert result["requeued_received"] == 0 and result["requeued_failed"] == 0
    assert published == []


@override_settings(AFFILIATEHUB_SWEEP_BATCH_SIZE=3)
def test_one_sweeper_run_drains_a_backlog_batch_after_batch(
    published, django_capture_on_commit_callbacks
):
    """After a broker outage: ten waiting events, batches of three, all enqueued in one beat run."""
    waiting = [
        InboundEventFactory(received_at=timezone.now() - dt.timedelta(minutes=10))
        for _ in range(10)
    ]
    with django_capture_on_commit_callbacks(execute=True):
        result = tasks.sweep_inbound_events.apply().get()
    assert result["requeued_received"] == 10
    queued = sorted(
        event_id
        for _, args, _ in published
        for event_id in (args[0] if isinstance(args[0], list) else args)
    )
    assert queued == sorted(event.pk for event in waiting)  # each once


def test_sweeper_recovers_an_event_whose_publish_was_lost(
    published, django_capture_on_commit_callbacks
):
    """Committed but never published (broker down): processed after the sweep."""
    seen = []
    registry.register("deposit.created", seen.append)
    event = InboundEventFactory(received_at=timezone.now() - dt.timedelta(minutes=2))
    with django_capture_on_commit_callbacks(execute=True):
        tasks.sweep_inbound_events.apply().get()
    name, args, _ = published[0]
    assert name == "integrations.process_inbound_event"
    tasks.process_inbound_event.apply(args=args).get()
    event.refresh_from_db()
    assert event.status == "processed" and len(seen) == 1


@override_settings(AFFILIATEHUB_PARK_MAX_AGE=dt.timedelta(days=7))
def test_sweeper_dead_letters_events_parked_too_long():
    now = timezone.now()
    old = InboundEventFactory(
        status="parked",
        parked_system="crm",
        parked_external_id="GONE",
        parked_at=now - dt.timedelta(days=8),
        last_error="player not mapped yet",
    )
    recent = InboundEventFactory(
        status="parked",
        parked_system="crm",
        parked_external_id="SOON",
        parked_at=now - dt.timedelta(days=1),
        next_attempt_at=now + dt.timedelta(hours=1),
    )
    result = services.inbound_events_sweep()
    assert result.dead_lettered_parked == 1
    old.refresh_from_db()
    recent.refresh_from_db()
    assert old.status == "dead"
    assert "crm:GONE was never mapped" in old.last_error
    assert recent.status == "parked"


def test_sweeper_rechecks_parked_events_periodically(published, django_capture_on_commit_callbacks):
    parked = InboundEventFactory(
        status="parked",
        parked_system="crm",
        parked_external_id="P-1",
        parked_at=timezone.now(),
        next_attempt_at=timezone.now() - dt.timedelta(seconds=1),
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert services.inbound_events_sweep().rechecked_parked == 1
    parked.refresh_from_db()
    assert parked.status == "received"
    assert published == [("integrations.process_inbound_events", [[parked.pk]], None)]


def test_trade_events_route_to_the_trades_queue(settings):
    from affiliatehub.celery import app

    route = app.amqp.router.route({}, "integrations.process_inbound_trade_event", args=[1])
    assert route["queue"].name == "trades"
    assert (
        app.amqp.router.route({}, "integrations.process_inbound_event", args=[1])["queue"].name
        == "celery"
    )
    assert settings.CELERY_TASK_ACKS_LATE and settings.CELERY_TASK_REJECT_ON_WORKER_LOST
    assert settings.CELERY_WORKER_PREFETCH_MULTIPLIER == 1


def test_sweeper_is_scheduled_every_30_seconds():
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(task="integrations.sweep_inbound_events")
    assert task.enabled and task.interval.every == 30 and task.interval.period == "seconds"
