"""The direct Redis publisher (dispatch._RedisPublisher) sends what apply_async sends.

Runs on a real Redis-protocol broker: AFFILIATEHUB_REAL_BROKER_URL, else the embedded one
(database 11; tests/brokers.py). Each test uses its own Celery app with
queue names of its own, so parallel runs never read each other's messages.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid

import pytest
from celery import Celery
from kombu.exceptions import OperationalError

from apps.integrations.inbound import dispatch
from tests.brokers import real_broker_url

REDIS_URL = real_broker_url(11)
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="needs a Redis-protocol broker")


@pytest.fixture
def app():
    """A Celery app like ours (protocol 2, json, ignore results, a routed second queue)."""
    tag = uuid.uuid4().hex[:10]
    celery_app = Celery(f"fastpub-{tag}", set_as_current=False)
    celery_app.conf.update(
        broker_url=REDIS_URL or "memory://",
        task_default_queue=f"q-{tag}",
        task_routes={"fastpub.trade": {"queue": f"t-{tag}"}},
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,  # the test worker must not rewire the suite's logging
    )
    seen: list[int] = []
    done = threading.Event()

    @celery_app.task(name="fastpub.event", acks_late=True, ignore_result=True, shared=False)
    def event(event_id):
        seen.append(event_id)
        done.set()

    @celery_app.task(name="fastpub.trade", acks_late=True, ignore_result=True, shared=False)
    def trade(event_id):
        seen.append(event_id)

    celery_app.seen, celery_app.done = seen, done
    dispatch._forget_publisher()
    yield celery_app
    dispatch._forget_publisher()
    if REDIS_URL:
        import redis

        redis.Redis.from_url(REDIS_URL).delete(
            f"q-{tag}", f"t-{tag}", f"_kombu.binding.q-{tag}", f"_kombu.binding.t-{tag}"
        )
        celery_app.close()


def _decoded(raw: bytes) -> dict:
    message = json.loads(raw)
    message["body"] = json.loads(base64.b64decode(message["body"]))
    for volatile in ("id", "root_id"):
        message["headers"].pop(volatile)
    for volatile in ("correlation_id", "delivery_tag"):
        message["properties"].pop(volatile)
    return message


@needs_redis
@pytest.mark.parametrize("task_name", ["fastpub.event", "fastpub.trade"])
def test_the_direct_message_equals_apply_async_s(app, task_name):
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    task = app.tasks[task_name]
    queue = app.amqp.router.route({}, task_name, (), {})["queue"].name

    task.apply_async(args=[4242])
    dispatch._publish(task, [4242])

    assert client.llen(queue) == 2
    via_kombu, direct = (_decoded(raw) for raw in reversed(client.lrange(queue, 0, -1)))
    assert direct == via_kombu
    assert direct["properties"]["delivery_info"] == {"exchange": "", "routing_key": queue}
    assert direct["headers"]["task"] == task_name
    assert direct["body"][0] == [4242]


@needs_redis
def test_each_message_has_its_own_task_id(app):
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    task = app.tasks["fastpub.event"]
    for event_id in (1, 2):
        dispatch._publish(task, [event_id])
    queue = app.conf.task_default_queue
    messages = [json.loads(raw) for raw in client.lrange(queue, 0, -1)]
    ids = {m["headers"]["id"] for m in messages}
    assert len(ids) == 2
    assert all(
        m["headers"]["root_id"] == m["properties"]["correlation_id"] == m["headers"]["id"]
        for m in messages
    )


@needs_redis
def test_a_real_worker_runs_a_directly_published_task(app):
    from celery.contrib.testing.worker import start_worker

    dispatch._publish(app.tasks["fastpub.event"], [77])
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        assert app.done.wait(20), "the worker did not run the task"
    assert app.seen == [77]


@needs_redis
def test_a_connection_that_broke_is_replaced_once_and_the_task_published(app, monkeypatch):
    import redis

    task = app.tasks["fastpub.event"]
    publisher = dispatch._fast_publisher(task)
    real_lpush, failures = publisher.client.lpush, []

    def broken_once(*args, **kwargs):
        if not failures:
            failures.append(1)
            raise redis.ConnectionError("connection reset (the broker restarted)")
        return real_lpush(*args, **kwargs)

    monkeypatch.setattr(publisher.client, "lpush", broken_once)
    dispatch._publish(task, [5])
    assert failures == [1]
    assert dispatch.broker_gate.is_open()
    assert len(redis.Redis.from_url(REDIS_URL).lrange(publisher.queue_for(task), 0, -1)) == 1


@needs_redis
def test_a_broker_that_stays_down_is_left_alone_for_a_moment_and_counted(app, monkeypatch):
    import redis

    task = app.tasks["fastpub.event"]
    publisher = dispatch._fast_publisher(task)
    attempts, regular = [], []

    def down(*args, **kwargs):
        attempts.append(1)
        raise redis.ConnectionError("Connection refused")

    monkeypatch.setattr(publisher.client, "lpush", down)
    monkeypatch.setattr(task, "apply_async", lambda **kwargs: regular.append(kwargs))
    dispatch.broker_gate.reset()
    try:
        dispatch._publish(task, [5])
        dispatch._publish(task, [6])
        dispatch._publish(task, [7])
        assert len(attempts) == 2  # the first publish and its one retry; then the gate is closed
        assert regular == []  # no slow kombu retries on the request's time
        assert not dispatch.broker_gate.is_open()
        assert dispatch.broker_gate.take_pending() == 3
    finally:
        dispatch.broker_gate.reset()


def test_countdowns_lists_and_other_brokers_take_the_regular_path(app, monkeypatch):
    task = app.tasks["fastpub.event"]
    calls = []
    monkeypatch.setattr(task, "apply_async", lambda **kwargs: calls.append(kwargs))

    dispatch._publish(task, [5], countdown=30)  # retries carry an eta
    dispatch._publish(task, [[1, 2, 3]])  # sequences and chunks
    assert calls == [
        {"args": [5], "countdown": 30, "retry": False},
        {"args": [[1, 2, 3]], "countdown": None, "retry": False},
    ]

    app.conf.broker_url = "memory://"
    dispatch._forget_publisher()
    assert dispatch._fast_publisher(task) is None
    dispatch._publish(task, [6])
    assert calls[-1] == {"args": [6], "countdown": None, "retry": False}


def test_the_direct_path_can_be_switched_off(app, settings):
    settings.AFFILIATEHUB_DIRECT_PUBLISH = False
    app.conf.broker_url = "redis://127.0.0.1:6379/11"
    assert dispatch._fast_publisher(app.tasks["fastpub.event"]) is None


def test_a_broker_outage_on_the_regular_path_is_left_to_the_sweeper(app, monkeypatch):
    task = app.tasks["fastpub.event"]
    app.conf.broker_url = "memory://"

    def down(**kwargs):
        raise OperationalError("down")

    warnings = []
    monkeypatch.setattr(task, "apply_async", down)
    monkeypatch.setattr(
        dispatch.logger, "warning", lambda message, *args, **kwargs: warnings.append(message % args)
    )
    dispatch.broker_gate.reset()
    dispatch._publish(task, [8])  # does not raise
    assert warnings == ["Broker unavailable; fastpub.event[8] left to the outbox sweeper."]
    dispatch.broker_gate.reset()
