"""A Celery worker on a real broker is SIGKILLed while events are inside their handler.

Runs on a real broker: AFFILIATEHUB_REAL_BROKER_URL (`.ci/run` sets it to the machine's Redis
for its second run), else the embedded one `make test` starts (tests/brokers.py). The worker blocks
inside the deposit handler on a table lock this test holds,
is killed, and a new worker picks the events up again: the queued ones straight away, the ones
that were inside the killed worker through the outbox sweeper (which beat runs every 30 s in
production; here the test publishes it every second) or the broker's redelivery after its
visibility timeout, whichever comes first. Every event must end processed, exactly once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from django.db import connection

from affiliatehub.celery import app as celery_app
from apps.integrations.accounts import integration_create
from apps.integrations.inbound import tasks
from apps.integrations.inbound.services import inbound_events_store, incoming_event, item_hash
from apps.integrations.models import InboundEvent
from apps.mappings.services import player_register
from apps.players.models import Deposit
from tests.brokers import real_broker_url

BROKER_URL = real_broker_url(13)
ROOT = Path(__file__).resolve().parents[2]
EVENTS = 12

pytestmark = [
    pytest.mark.skipif(
        not BROKER_URL.startswith("redis://"),
        reason="needs AFFILIATEHUB_REAL_BROKER_URL=redis://...",
    ),
    pytest.mark.django_db(transaction=True),
]


def _database_url() -> str:
    s = connection.settings_dict
    host = s["HOST"] or s["OPTIONS"].get("host", "")
    auth = quote(s["USER"] or "postgres") + (":" + quote(s["PASSWORD"]) if s["PASSWORD"] else "")
    if host.startswith("/"):
        return f"postgresql://{auth}@/{s['NAME']}?host={quote(host)}"
    return f"postgresql://{auth}@{host}:{s['PORT'] or 5432}/{s['NAME']}"


def _start_worker(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "affiliatehub",
            "worker",
            "-l",
            "warning",
            "-Q",
            "celery,trades",
            "--concurrency",
            "2",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
        ],
        env=env,
        cwd=ROOT,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _wait(predicate, timeout: float, what: str, interval: float = 1.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def _backends_waiting_on_lock(db_url: str) -> int:
    with psycopg.connect(db_url, autocommit=True) as conn:
        return conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND query ILIKE '%%players_deposit%%'"
        ).fetchone()[0]


@pytest.mark.parametrize("claim_batch", [0, 5], ids=["message-per-event", "batch-claiming"])
def test_killed_worker_loses_nothing_and_processes_each_event_once(claim_batch):
    """With batch claiming the killed worker held a drain with leased events: the leases
    expire, the sweeper re-enqueues those events and the new worker's drain takes the rest."""
    import redis

    redis.Redis.from_url(BROKER_URL).flushdb()
    db_url = _database_url()
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="affiliatehub.settings.local",
        DATABASE_URL=db_url,
        CELERY_BROKER_URL=BROKER_URL,
        CELERY_VISIBILITY_TIMEOUT="5",  # redeliver the killed worker's unacked messages quickly
        AFFILIATEHUB_EVENT_RETRY_CAP_SECONDS="4",
        AFFILIATEHUB_SWEEP_STUCK_AFTER_SECONDS="2",
        AFFILIATEHUB_INBOUND_CLAIM_BATCH=str(claim_batch),
        LOG_LEVEL="WARNING",
    )

    integration, _ = integration_create(slug="crash-crm", kind="crm", id_system="crm")
    for i in range(EVENTS):
        player_register(
            tracking_token=None,
            registered_at=datetime(2026, 11, 1, tzinfo=UTC),
            country="GB",
            brand="demo",
            identifiers={"crm": f"p{i}"},
            source="test",
        )
    envelopes = [
        {
            "id": f"dep-{i}",
            "type": "deposit.created",
            "timestamp": "2026-11-02T10:00:00Z",
            "data": {
                "deposit_id": f"d{i}",
                "player_id": f"p{i}",
                "amount": "50.00",
                "currency": "EUR",
            },
        }
        for i in range(EVENTS)
    ]
    events = [
        incoming_event(
            integration_kind="crm",
            webhook_id=e["id"],
            envelope=e,
            body_hash=item_hash(e),
            require_id=True,
        )
        for e in envelopes
    ]
    results = inbound_events_store(integration_id=integration.pk, events=events, source="batch")
    event_ids = [r.event_id for r in results]
    assert all(r.outcome == "accepted" for r in results)

    # Publish to the real broker (the test process itself is configured with memory://).
    with celery_app.connection_for_write(url=BROKER_URL) as conn:
        if claim_batch:  # what intake publishes then: a wake-up of the drain
            tasks.drain_inbound_events.apply_async(connection=conn)
        else:
            for event_id in event_ids:
                tasks.process_inbound_event.apply_async(args=[event_id], connection=conn)

    # Hold a lock that every deposit insert needs, so the worker stops inside the handler.
    locker = psycopg.connect(db_url)
    locker.execute("LOCK TABLE players_deposit IN EXCLUSIVE MODE")
    first = _start_worker(env)
    second = None
    try:
        _wait(
            lambda: _backends_waiting_on_lock(db_url) >= 1,
            60,
            "the worker to block inside a handler",
        )
        _kill(first)
        locker.rollback()  # release: the orphaned transactions can only roll back now
        locker.close()
        second = _start_worker(env)

        def all_processed() -> bool:
            with celery_app.connection_for_write(url=BROKER_URL) as conn:
                tasks.sweep_inbound_events.apply_async(connection=conn)  # what beat does
            return (
                InboundEvent.objects.filter(pk__in=event_ids, status="processed").count() == EVENTS
            )

        _wait(all_processed, 90, "every event to be processed by the new worker")
    finally:
        _kill(first)
        if second is not None:
            _kill(second)
        if not locker.closed:
            locker.close()

    assert Deposit.objects.count() == EVENTS
    assert sorted(Deposit.objects.values_list("deposit_id", flat=True)) == sorted(
        f"d{i}" for i in range(EVENTS)
    )
    assert set(InboundEvent.objects.filter(pk__in=event_ids).values_list("status", flat=True)) == {
        "processed"
    }
    # Killing the worker is not a handler failure: nothing was counted as a failed attempt.
    assert not InboundEvent.objects.filter(pk__in=event_ids, attempts__gt=0).exists()
