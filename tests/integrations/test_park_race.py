"""The park/unpark race, replayed step by step with two workers on the real database.

Worker A processes a deposit whose player lookup misses; worker B registers that player (its
mapping's unpark runs in the registration's transaction). Whatever the interleaving, the deposit
ends processed at once, never parked until the hourly recheck:

- B registers and commits between A's miss and A's park: A's park sees the mapping and re-runs;
- B has unparked but not committed when A parks: A waits for B's park lock, then sees the mapping;
- A holds the park lock when B unparks: B waits for A's park to commit, then unparks it.

A pauses inside its handler right after the lookup missed (`PausedDeposit`); B is the real
registration service. A third connection (the test's) watches pg_locks to know who waits.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
from django.db import connection, transaction

from apps.integrations.inbound import dispatch, registry
from apps.integrations.inbound.process import inbound_event_process, inbound_events_process_sequence
from apps.integrations.inbound.registry import ParkEvent
from apps.integrations.models import InboundEvent
from apps.mappings import handlers
from apps.mappings.services import player_register
from apps.players.facts import Deposit

from .factories import InboundEventFactory, IntegrationFactory

pytestmark = pytest.mark.django_db(transaction=True)

Status = InboundEvent.Status
WAIT = 10  # seconds: any wait longer than this is a bug (a deadlock, a missed signal)


class PausedDeposit:
    """deposit.created's real fact handler, which stops after its first lookup that missed
    (`missed` set) until `resume` is set, then lets the ParkEvent go on to the processor.
    With `hold_park_lock`, the pause is inside the park's own re-check instead: A then holds
    the park lock and has seen the identifier unmapped, and has not committed its park yet."""

    def __init__(self, *, hold_park_lock: bool = False):
        self.missed, self.resume = threading.Event(), threading.Event()
        self.hold_park_lock = hold_park_lock

    def pause(self) -> None:
        if not self.missed.is_set():
            self.missed.set()
            assert self.resume.wait(WAIT), "never resumed"

    def __call__(self, ctx) -> None:
        try:
            handlers.deposit_created(ctx)
        except ParkEvent as park:
            if not self.hold_park_lock:
                self.pause()
                raise
            ask = park.known_now

            def known_now() -> bool:
                known = ask()
                self.pause()
                return known

            raise ParkEvent(
                park.system, park.external_id, park.reason, known_now=known_now
            ) from park

    def install(self) -> None:
        pipeline = [
            self if handler is handlers.deposit_created else handler
            for handler in registry.handlers_for("deposit.created")
        ]
        assert self in pipeline
        registry.restore({**registry.snapshot(), "deposit.created": pipeline})


@pytest.fixture
def queued(monkeypatch):
    """What an unpark enqueues after its commit (the sequence of event ids), kept here."""
    sequences: list[list[int]] = []
    monkeypatch.setattr(dispatch, "enqueue_sequence", lambda ids: sequences.append(list(ids)))
    monkeypatch.setattr(dispatch, "enqueue_event", lambda *args, **kwargs: None)
    return sequences


@pytest.fixture
def deposit():
    psp = IntegrationFactory(slug="psp", kind="payments", id_system="payments")
    return InboundEventFactory(integration=psp, webhook_id="dep-1")  # player payments:P-1


def register_p1() -> None:
    player_register(
        tracking_token=None,
        registered_at=datetime(2026, 11, 20, 9, 30, tzinfo=UTC),
        country="DE",
        brand="spinpalace",
        identifiers={"payments": "P-1"},
        source="test",
    )


def in_thread(target, outcomes: list) -> threading.Thread:
    def run():
        try:
            outcomes.append(target())
        except Exception as exc:  # surfaced by the assertions
            outcomes.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def worker_a(deposit: InboundEvent, paused: PausedDeposit, outcomes: list) -> threading.Thread:
    paused.install()
    thread = in_thread(lambda: inbound_event_process(event_id=deposit.pk), outcomes)
    assert paused.missed.wait(WAIT), "A's lookup never missed"
    return thread


def advisory_lock_waited_for(until: threading.Thread | None = None) -> bool:
    """Whether some connection waits for an advisory lock, within WAIT seconds (False at once
    when `until` has finished: the thread that would have waited did not)."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            )
            if cursor.fetchone()[0]:
                return True
        if until is not None and not until.is_alive():
            return False
        time.sleep(0.02)
    return False


def processed_once(deposit: InboundEvent) -> bool:
    deposit.refresh_from_db()
    return deposit.status == Status.PROCESSED and Deposit.objects.count() == 1


def test_a_registration_committed_between_the_miss_and_the_park_processes_the_event(
    deposit, queued
):
    paused, outcomes = PausedDeposit(), []
    a = worker_a(deposit, paused, outcomes)

    register_p1()  # B: the mapping and its unpark (nothing parked yet) commit
    paused.resume.set()
    a.join(WAIT)

    assert outcomes == ["processed"]
    assert processed_once(deposit)
    assert queued == []  # nothing was parked, nothing waits for the recheck


def test_a_park_waits_for_an_uncommitted_registration_and_then_processes_the_event(deposit, queued):
    paused, outcomes = PausedDeposit(), []
    a = worker_a(deposit, paused, outcomes)

    with transaction.atomic():
        register_p1()  # B has unparked (and holds the park lock) but has not committed
        paused.resume.set()
        a_waited = advisory_lock_waited_for(until=a)
    a.join(WAIT)

    assert a_waited
    assert outcomes == ["processed"]
    assert processed_once(deposit)


def test_an_unpark_waits_for_a_park_in_progress_and_then_unparks_it(deposit, queued):
    paused, a_outcomes, b_outcomes = PausedDeposit(hold_park_lock=True), [], []
    a = worker_a(deposit, paused, a_outcomes)  # A holds the park lock, saw P-1 unmapped

    b = in_thread(register_p1, b_outcomes)
    b_waited = advisory_lock_waited_for(until=b)
    paused.resume.set()  # A commits its park; B's unpark then finds it
    a.join(WAIT)
    b.join(WAIT)

    assert b_waited
    assert (a_outcomes, b_outcomes) == (["parked"], [None])
    assert queued == [[deposit.pk]]
    assert inbound_events_process_sequence(event_ids=queued[0]) == {"processed": 1}
    assert processed_once(deposit)


def _park_always(known_now):
    """deposit.created runs only a handler that always parks, with this re-check; it counts
    its runs."""
    runs = []

    def handler(ctx):
        runs.append(ctx.event_id)
        raise ParkEvent(ctx.id_system, ctx.data["player_id"], known_now=known_now)

    registry.restore({**registry.snapshot(), "deposit.created": [handler]})
    return runs


def test_a_recheck_that_keeps_finding_what_the_lookup_misses_parks_after_three_runs(deposit):
    runs = _park_always(known_now=lambda: True)

    assert inbound_event_process(event_id=deposit.pk) == "parked"
    assert len(runs) == 3
    deposit.refresh_from_db()
    assert (deposit.status, deposit.parked_external_id) == (Status.PARKED, "P-1")


def test_a_failing_recheck_parks_the_event_for_the_periodic_recheck(deposit):
    def broken() -> bool:
        raise ValueError("re-check broke")

    runs = _park_always(known_now=broken)

    assert inbound_event_process(event_id=deposit.pk) == "parked"
    assert len(runs) == 1
    deposit.refresh_from_db()
    assert deposit.status == Status.PARKED and deposit.next_attempt_at is not None
