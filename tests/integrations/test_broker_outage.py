"""A broker outage neither loses an event nor slows intake, and is counted.

Against a real Redis-protocol server (tests/brokers.py) that the test stops and starts: while it
is down webhooks are answered 202 from the stored row, the publish fails once and then this
process leaves the broker alone for a moment (no connection attempt per webhook), every failure
is counted for /metrics and the health page, and once the broker is back the outbox sweeper
enqueues each waiting event exactly once.
"""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
import redis
from django.utils import timezone

from affiliatehub.celery import app as celery_app
from apps.integrations.inbound import dispatch, tasks
from apps.integrations.inbound.services import inbound_events_sweep
from apps.integrations.models import InboundEvent, PublishFailureStat
from apps.players.models import Deposit
from tests.brokers import StandaloneValkey
from tests.factories import IdentifierMappingFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def broker(tmp_path):
    server = StandaloneValkey(tmp_path)
    server.start()
    # The direct publisher reads the URL from the app's conf (the regular path's connection pool
    # is left alone: closing it would break every later test that publishes).
    saved = celery_app.conf.broker_url
    celery_app.conf.broker_url = server.url
    dispatch._forget_publisher()
    dispatch.broker_gate.reset()
    yield server
    server.stop()
    celery_app.conf.broker_url = saved
    dispatch._forget_publisher()
    dispatch.broker_gate.reset()


def _deposit(n: int) -> dict:
    return {
        "type": "deposit.created",
        "timestamp": "2026-12-01T10:00:00Z",
        "data": {
            "deposit_id": f"dep-{n}",
            "player_id": "crm-1",
            "amount": "25.00",
            "currency": "EUR",
        },
    }


def _queued_event_ids(url: str) -> list[int]:
    client = redis.Redis.from_url(url)
    ids = []
    for raw in client.lrange("celery", 0, -1):
        args = json.loads(base64.b64decode(json.loads(raw)["body"]))[0]
        ids.extend(args[0] if isinstance(args[0], list) else args)  # a chunk of ids, or one id
    return ids


def test_webhooks_during_an_outage_are_accepted_counted_and_enqueued_once_it_ends(
    broker, post_webhook, integration, monkeypatch
):
    mapping = IdentifierMappingFactory(system="crm", external_id="crm-1")
    attempts = []
    real_publish = dispatch._RedisPublisher.publish
    monkeypatch.setattr(
        dispatch._RedisPublisher,
        "publish",
        lambda self, task, args: attempts.append(args) or real_publish(self, task, args),
    )

    assert post_webhook(_deposit(0), webhook_id="msg_up").status_code == 202
    assert _queued_event_ids(broker.url) == [InboundEvent.objects.get(webhook_id="msg_up").pk]
    redis.Redis.from_url(broker.url).delete("celery")

    broker.stop()
    answers = [
        post_webhook(_deposit(n), webhook_id=f"msg_down_{n}").status_code for n in range(1, 6)
    ]

    assert answers == [202] * 5
    down = list(InboundEvent.objects.filter(webhook_id__startswith="msg_down_").order_by("pk"))
    assert {event.status for event in down} == {"received"}
    # One attempt (retried once on a fresh connection inside it); the four after it skip the broker.
    assert len(attempts) == 2
    dispatch.publish_failures_flush()
    assert sum(PublishFailureStat.objects.values_list("failures", flat=True)) == 5

    broker.start()
    dispatch.broker_gate.reset()  # the backoff would end by itself a moment later
    later = timezone.now() + dt.timedelta(minutes=5)
    inbound_events_sweep(now=later)
    inbound_events_sweep(now=later)  # a second sweep right after does not enqueue them again

    queued = _queued_event_ids(broker.url)
    up = InboundEvent.objects.get(
        webhook_id="msg_up"
    )  # its message was dropped above: the sweeper covers it too
    assert sorted(queued) == [up.pk] + [event.pk for event in down]
    for event_id in queued:
        tasks.process_inbound_event.run(event_id)
        tasks.process_inbound_event.run(event_id)  # redelivered: still one effect
    statuses = set(
        InboundEvent.objects.filter(webhook_id__startswith="msg_down_").values_list(
            "status", flat=True
        )
    )
    assert statuses == {"processed"}
    assert Deposit.objects.filter(player=mapping.player).count() == 6
