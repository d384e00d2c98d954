"""The store enqueues chunks of event ids (dispatch.enqueue_events) through the direct Redis
publisher too: the message equals apply_async's, argsrepr truncated the way Celery does it.

Needs a Redis, like test_fast_publish (whose Celery app fixture it shares)."""

from __future__ import annotations

import pytest

from apps.integrations.inbound import dispatch

from .test_fast_publish import REDIS_URL, _decoded, app, needs_redis  # noqa: F401 - app is a fixture


@needs_redis
@pytest.mark.parametrize("size", [3, 200])  # 200 ids: a repr longer than Celery's 1024 characters
def test_a_chunk_published_directly_equals_apply_async_s(app, size):  # noqa: F811 - the fixture
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    task = app.tasks["fastpub.event"]
    chunk = list(range(10_000_000, 10_000_000 + size))

    task.apply_async(args=[chunk])
    dispatch._publish_chunk(task, chunk)

    queue = app.conf.task_default_queue
    assert client.llen(queue) == 2
    via_kombu, direct = (_decoded(raw) for raw in reversed(client.lrange(queue, 0, -1)))
    assert direct == via_kombu
    assert direct["body"][0] == [chunk]


def test_without_a_direct_publisher_a_chunk_takes_the_regular_path(app, monkeypatch):  # noqa: F811
    app.conf.broker_url = "memory://"
    dispatch._forget_publisher()
    task = app.tasks["fastpub.event"]
    calls = []
    monkeypatch.setattr(task, "apply_async", lambda **kwargs: calls.append(kwargs))
    dispatch._publish_chunk(task, [1, 2])
    assert calls == [{"args": [[1, 2]], "countdown": None, "retry": False}]
