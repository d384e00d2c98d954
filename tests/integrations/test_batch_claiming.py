"""Batch claiming (issue 18 §3): intake wakes a drain, the drain claims ready events in batches
and processes each in its own transaction, exactly once, a player's events in receipt order
even with several drains at once, one event's failure never touching the others."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from django.db import connection
from django.utils import timezone

from apps.integrations.inbound import dispatch, drain, fastpath, registry, services
from apps.integrations.models import InboundEvent
from tests.factories import IdentifierMappingFactory

from .conftest import load_fixture
from .factories import InboundEventFactory, IntegrationFactory
from .test_fast_publish import REDIS_URL, app, needs_redis  # noqa: F401 - the fixture

Status = InboundEvent.Status


def _deposit(integration, player: str, n: int, received_at: dt.datetime) -> InboundEvent:
    occurred = received_at - dt.timedelta(minutes=1)
    return InboundEventFactory(
        integration=integration,
        webhook_id=f"{player}-{n}",
        received_at=received_at,
        occurred_at=occurred,
        payload={
            "type": "deposit.created",
            "timestamp": occurred.isoformat(),
            "data": {
                "deposit_id": f"dep-{player}-{n}",
                "player_id": player,
                "amount": "10.00",
                "currency": "EUR",
            },
        },
    )


def _interleaved(integration, players: list[str], per_player: int) -> list[InboundEvent]:
    """Events of several players, interleaved, each received a millisecond after the last."""
    start = timezone.now() - dt.timedelta(seconds=10)
    events = []
    for n in range(per_player):
        for player in players:
            events.append(
                _deposit(integration, player, n, start + dt.timedelta(milliseconds=len(events)))
            )
    return events


@pytest.fixture
def recorder():
    """deposit.created runs only a handler that notes (player, event id) in the order run."""
    calls: list[tuple[str, int]] = []
    delay = {"seconds": 0.0}

    def record(ctx):
        if delay["seconds"]:
            time.sleep(delay["seconds"])
        calls.append((ctx.data["player_id"], ctx.event_id))

    registry.restore({**registry.snapshot(), "deposit.created": [record]})
    record.calls, record.delay = calls, delay
    return record


@pytest.fixture
def quiet_dispatch(monkeypatch):
    """What the drain publishes (wake-ups, retries), recorded instead of sent."""
    sent = []
    monkeypatch.setattr(
        dispatch, "_publish", lambda task, args, countdown=None, **kw: sent.append(task.name)
    )
    return sent


def _per_player(calls, events) -> tuple[dict, dict]:
    """(order run, order received) of each player's event ids."""
    ran: dict[str, list[int]] = {}
    for player, event_id in calls:
        ran.setdefault(player, []).append(event_id)
    received: dict[str, list[int]] = {}
    for event in sorted(events, key=lambda e: (e.received_at, e.pk)):
        received.setdefault(event.payload["data"]["player_id"], []).append(event.pk)
    return ran, received


# --- intake publishes a wake-up, not a message per event ------------------------------------


@pytest.mark.django_db
def test_with_batch_claiming_a_webhook_wakes_the_drain_of_its_queue(
    settings, post_webhook, published, django_capture_on_commit_callbacks
):
    settings.AFFILIATEHUB_INBOUND_CLAIM_BATCH = 100
    with django_capture_on_commit_callbacks(execute=True):
        assert post_webhook(load_fixture("deposit_created.json")).status_code == 202
    assert published == [(dispatch.DRAIN_TASK, [], None)]


@pytest.mark.django_db
def test_with_batch_claiming_off_each_webhook_publishes_its_event(
    settings, post_webhook, published, django_capture_on_commit_callbacks
):
    settings.AFFILIATEHUB_INBOUND_CLAIM_BATCH = 0
    with django_capture_on_commit_callbacks(execute=True):
        assert post_webhook(load_fixture("deposit_created.json")).status_code == 202
    event = InboundEvent.objects.get()
    assert published == [(dispatch.PROCESS_EVENT_TASK, [event.pk], None)]


@pytest.mark.django_db
def test_trade_events_wake_the_trades_drain(settings, published):
    settings.AFFILIATEHUB_INBOUND_CLAIM_BATCH = 100
    dispatch.announce_events([(1, "trade.closed"), (2, "deposit.created"), (3, "trade.closed")])
    assert sorted(name for name, _, _ in published) == [
        dispatch.DRAIN_TASK,
        dispatch.DRAIN_TRADES_TASK,
    ]


# --- the drain -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_drain_processes_every_ready_event_once_in_receipt_order(recorder, quiet_dispatch):
    integration = IntegrationFactory()
    events = _interleaved(integration, ["A", "B", "C"], 5)

    result = services.inbound_events_drain(trades=False, batch_size=4)

    assert result.claimed == 15 and result.outcomes == {"processed": 15}
    assert result.batches == 4
    assert [event_id for _, event_id in recorder.calls] == [e.pk for e in events]
    assert set(InboundEvent.objects.values_list("status", "next_attempt_at")) == {
        (Status.PROCESSED, None)
    }
    # The first full batch asked another worker to help; the empty claim cleared the mark.
    assert quiet_dispatch == [dispatch.DRAIN_TASK]


@pytest.mark.django_db
def test_a_player_with_an_event_in_flight_elsewhere_waits(recorder, quiet_dispatch):
    integration = IntegrationFactory()
    events = _interleaved(integration, ["A", "B"], 3)
    in_flight = events[1]  # B's first event, leased by another drain
    InboundEvent.objects.filter(pk=in_flight.pk).update(
        next_attempt_at=timezone.now() + dt.timedelta(seconds=60)
    )

    services.inbound_events_drain(trades=False, batch_size=10)

    # A's events ran; none of B's overtook the one in flight.
    assert recorder.calls == [("A", e.pk) for e in events[0::2]]
    assert set(
        InboundEvent.objects.filter(pk__in=[e.pk for e in events[3::2]]).values_list(
            "status", "next_attempt_at"
        )
    ) == {(Status.RECEIVED, None)}

    # Once it is done, the rest of B's follow, in order.
    assert services.inbound_event_process(event_id=in_flight.pk) == services.PROCESSED
    services.inbound_events_drain(trades=False, batch_size=10)
    assert [event_id for player, event_id in recorder.calls if player == "B"] == [
        e.pk for e in events[1::2]
    ]


@pytest.mark.django_db
def test_failed_parked_and_future_events_are_not_claimed(recorder, quiet_dispatch):
    integration = IntegrationFactory()
    failed = InboundEventFactory(
        integration=integration,
        status=Status.FAILED,
        next_attempt_at=timezone.now() - dt.timedelta(seconds=1),
    )
    parked = InboundEventFactory(integration=integration, status=Status.PARKED)
    trade = InboundEventFactory(integration=integration, event_type="trade.closed")

    result = services.inbound_events_drain(trades=False, batch_size=10)

    assert result.claimed == 0
    assert recorder.calls == []
    assert InboundEvent.objects.get(pk=failed.pk).status == Status.FAILED
    assert InboundEvent.objects.get(pk=parked.pk).status == Status.PARKED
    assert InboundEvent.objects.get(pk=trade.pk).next_attempt_at is None  # the trades drain's


@pytest.mark.django_db
def test_one_failing_event_in_a_batch_leaves_the_others_processed(
    quiet_dispatch, django_capture_on_commit_callbacks
):
    integration = IntegrationFactory()
    events = _interleaved(integration, ["A", "B", "C", "D"], 1)
    poison = {events[1].pk: RuntimeError("boom"), events[2].pk: RecursionError("deep")}

    def handler(ctx):
        if ctx.event_id in poison:
            raise poison[ctx.event_id]

    registry.restore({**registry.snapshot(), "deposit.created": [handler]})

    with django_capture_on_commit_callbacks(execute=True):
        result = services.inbound_events_drain(trades=False, batch_size=10)

    assert result.outcomes == {"processed": 2, "failed": 1, "dead": 1}
    statuses = dict(InboundEvent.objects.values_list("pk", "status"))
    assert statuses == {
        events[0].pk: Status.PROCESSED,
        events[1].pk: Status.FAILED,
        events[2].pk: Status.DEAD,
        events[3].pk: Status.PROCESSED,
    }
    # The failed event's retry is its own message, with its backoff.
    assert dispatch.PROCESS_EVENT_TASK in quiet_dispatch


@pytest.mark.django_db
def test_the_drain_runs_the_real_pipeline(quiet_dispatch):
    """Deposits of a known player through the declared handlers: one deposit row each, the
    earliest one the player's first deposit."""
    from apps.players.models import Deposit

    integration = IntegrationFactory()
    IdentifierMappingFactory(system="crm", external_id="A")
    events = _interleaved(integration, ["A"], 3)

    services.inbound_events_drain(trades=False, batch_size=2)
    services.inbound_events_drain(trades=False, batch_size=2)  # nothing left: nothing twice

    assert set(InboundEvent.objects.values_list("status", flat=True)) == {Status.PROCESSED}
    deposits = list(Deposit.objects.order_by("occurred_at"))
    assert [d.deposit_id for d in deposits] == [f"dep-A-{n}" for n in range(3)]
    assert [d.is_first for d in deposits] == [True, False, False]
    assert all(d.source_event_id in {e.pk for e in events} for d in deposits)


@pytest.mark.django_db
def test_an_event_another_worker_holds_is_skipped_and_its_lease_given_back(
    recorder, quiet_dispatch, monkeypatch
):
    integration = IntegrationFactory()
    events = _interleaved(integration, ["A", "B"], 1)
    real_process = services.inbound_event_process

    def held_elsewhere(*, event_id):
        if event_id == events[0].pk:
            return services.SKIPPED  # what the SKIP LOCKED row lock answers
        return real_process(event_id=event_id)

    monkeypatch.setattr(drain, "inbound_event_process", held_elsewhere)
    result = services.inbound_events_drain(trades=False, batch_size=10)

    assert result.outcomes == {"skipped": 1, "processed": 1}
    held = InboundEvent.objects.get(pk=events[0].pk)
    assert (held.status, held.next_attempt_at) == (Status.RECEIVED, None)  # ready again


@pytest.mark.django_db
def test_a_drain_stops_at_its_time_budget_and_wakes_a_successor(recorder, quiet_dispatch):
    integration = IntegrationFactory()
    _interleaved(integration, ["A", "B"], 3)

    result = services.inbound_events_drain(trades=False, batch_size=2, budget_seconds=0)

    assert result.out_of_time and result.claimed == 2
    assert quiet_dispatch == [dispatch.DRAIN_TASK, dispatch.DRAIN_TASK]  # helper, successor
    assert InboundEvent.objects.filter(status=Status.RECEIVED).count() == 4


@pytest.mark.django_db(transaction=True)
def test_concurrent_drains_process_each_event_once_and_each_player_in_order(
    recorder, quiet_dispatch
):
    """Three drains at once over eight players' interleaved events (a handler slow enough for
    their batches to overlap): every event runs exactly once, and no player's event runs before
    one of theirs received earlier."""
    integration = IntegrationFactory()
    events = _interleaved(integration, [f"P{n}" for n in range(8)], 8)
    recorder.delay["seconds"] = 0.002
    barrier = threading.Barrier(3)
    results, errors = [], []

    def drain():
        try:
            barrier.wait(timeout=10)
            results.append(services.inbound_events_drain(trades=False, batch_size=5))
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=drain) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    event_ids = [event_id for _, event_id in recorder.calls]
    assert sorted(event_ids) == sorted(e.pk for e in events)  # each exactly once
    ran, received = _per_player(recorder.calls, events)
    assert ran == received
    assert sum(r.claimed for r in results) == len(events)
    assert set(InboundEvent.objects.values_list("status", flat=True)) == {Status.PROCESSED}


@pytest.mark.django_db
def test_a_claim_takes_turns_and_leases_in_receipt_order(recorder):
    integration = IntegrationFactory()
    events = _interleaved(integration, ["A", "B"], 2)
    now = timezone.now()
    lease = now + dt.timedelta(seconds=60)

    claimed = fastpath.claim_ready(trades=False, limit=3, lease_until=lease, now=now)

    assert [c.id for c in claimed] == [e.pk for e in events[:3]]
    # B's second event is past the limit, and B now has an event in flight: not claimable.
    assert fastpath.claim_ready(trades=False, limit=3, lease_until=lease, now=now) == []
    assert fastpath.release_leases(event_ids=[events[0].pk], lease_until=lease) == 1


# --- the wake-up on a real broker -------------------------------------------------------------


@needs_redis
def test_a_burst_of_wake_ups_publishes_one_message_until_the_drain_goes_idle(app):  # noqa: F811
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    task = app.tasks["fastpub.event"]
    publisher = dispatch._fast_publisher(task)
    queue = publisher.queue_for(task)
    key = f"test-pending-{queue}"
    try:
        for _ in range(5):
            assert publisher.wake(task, key, 2000) is True
        assert client.llen(queue) == 1
        publisher.forget_wake(key)  # the drain found nothing
        assert publisher.wake(task, key, 2000) is True
        assert client.llen(queue) == 2
        client.delete(key)
        assert publisher.wake(task, key, 1) is True
        time.sleep(0.01)  # a drain that died: its mark expires
        assert publisher.wake(task, key, 2000) is True
        assert client.llen(queue) == 4
    finally:
        client.delete(key)


@needs_redis
def test_a_real_worker_runs_a_wake_up_message(app):  # noqa: F811
    from celery.contrib.testing.worker import start_worker

    seen = []
    done = threading.Event()

    @app.task(name="fastpub.drain", acks_late=True, ignore_result=True, shared=False)
    def drain():
        seen.append("drained")
        done.set()

    publisher = dispatch._fast_publisher(drain)
    key = f"test-pending-{uuid_tag()}"
    try:
        assert publisher.wake(drain, key, 2000) is True
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            assert done.wait(20), "the worker did not run the wake-up"
    finally:
        publisher.client.delete(key)
    assert seen == ["drained"]


def uuid_tag() -> str:
    import uuid

    return uuid.uuid4().hex[:10]


@pytest.mark.parametrize(
    "broker, expected",
    [("redis://127.0.0.1:6379/0", 100), ("amqp://guest:guest@127.0.0.1:5672//", 0)],
)
def test_unset_batch_size_follows_the_broker(settings, broker, expected):
    """Batch claiming pays where wake-ups coalesce (Redis); elsewhere one message per event."""
    from celery import current_app

    settings.AFFILIATEHUB_INBOUND_CLAIM_BATCH = None
    previous = current_app.conf.broker_url
    current_app.conf.broker_url = broker
    try:
        assert dispatch.claim_batch_size() == expected
    finally:
        current_app.conf.broker_url = previous
    settings.AFFILIATEHUB_INBOUND_CLAIM_BATCH = 25
    assert dispatch.claim_batch_size() == 25  # an explicit size wins


# --- a worker of both queues drains both ------------------------------------------------------


def _trade(integration, login: str, n: int, received_at: dt.datetime) -> InboundEvent:
    closed = received_at - dt.timedelta(minutes=1)
    return InboundEventFactory(
        integration=integration,
        webhook_id=f"{login}-t{n}",
        event_type="trade.closed",
        received_at=received_at,
        occurred_at=closed,
        payload={
            "type": "trade.closed",
            "timestamp": closed.isoformat(),
            "data": {
                "platform": "mt5",
                "server": "live",
                "login": login,
                "deal_id": f"{login}-{n}",
                "position_id": f"pos-{n}",
                "symbol": "EURUSD",
                "volume_lots": "1.00",
                "entry": "out",
                "profit": "0.00",
                "currency": "USD",
                "closed_at": closed.isoformat(),
            },
        },
    )


@pytest.fixture
def both_recorded(recorder):
    """trade.closed runs only a handler noting (login, event id), beside deposits' recorder."""

    def record_trade(ctx):
        recorder.calls.append((ctx.data["login"], ctx.event_id))

    registry.restore({**registry.snapshot(), "trade.closed": [record_trade]})
    return recorder


@pytest.mark.django_db
def test_a_drain_of_both_queues_takes_trades_and_the_rest_in_receipt_order(
    both_recorded, quiet_dispatch
):
    crm = IntegrationFactory()
    trading = IntegrationFactory(kind="trading", id_system="mt5-live")
    start = timezone.now() - dt.timedelta(seconds=10)
    events = [
        _trade(trading, f"L{n % 4}", n, start + dt.timedelta(milliseconds=n))
        if n % 3 == 0
        else _deposit(crm, f"P{n % 4}", n, start + dt.timedelta(milliseconds=n))
        for n in range(12)
    ]

    mine = services.inbound_events_drain(trades=False, batch_size=5)
    assert mine.claimed == 8  # a default-queue drain leaves the trades to the trades queue
    rest = services.inbound_events_drain(trades=None, batch_size=5)

    assert rest.claimed == 4 and rest.outcomes == {"processed": 4}
    assert [event_id for _, event_id in both_recorded.calls] == [
        e.pk for e in events if e.event_type != "trade.closed"
    ] + [e.pk for e in events if e.event_type == "trade.closed"]
    InboundEvent.objects.update(status=Status.RECEIVED, processed_at=None)
    both_recorded.calls.clear()

    both = services.inbound_events_drain(trades=None, batch_size=5)

    assert both.claimed == 12
    assert [event_id for _, event_id in both_recorded.calls] == [e.pk for e in events]


@pytest.mark.parametrize(
    "consumed, trades, expected",
    [
        (["celery", "trades"], False, None),
        (["celery", "trades"], True, None),
        (["celery"], False, False),
        (["trades"], True, True),
    ],
)
def test_a_worker_of_both_queues_drains_both_kinds(consumed, trades, expected):
    """The two-process layout (make run, the benchmarks) drains both kinds in one drain; the
    scale-out topology's single-queue workers keep to their queue."""
    from affiliatehub.celery import app as project_app

    queues = project_app.amqp.queues
    previous = queues._consume_from
    try:
        queues.select(consumed)
        assert dispatch.drain_kind_for_worker(trades) is expected
    finally:
        queues._consume_from = previous
