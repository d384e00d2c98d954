"""Publishing processing tasks. Callers enqueue after commit (`transaction.on_commit`).

A failed publish (broker down) is logged and counted, not raised: the event is already committed
with status `received` (or `failed` with its due time) and the outbox sweeper re-enqueues it, so
nothing is lost and the sender still gets its answer. A publish is bounded in time
(AFFILIATEHUB_PUBLISH_TIMEOUT, no retries), and after a failure this process leaves the broker
alone for AFFILIATEHUB_PUBLISH_BACKOFF_SECONDS (`_BrokerGate`): while the broker is down, intake
answers at its normal latency instead of waiting on connection attempts for every webhook.

With a Redis broker the one-event publish (one per webhook, the hot path) skips kombu's
producer: `_RedisPublisher` builds the same Celery protocol-2 message that `apply_async` sends
and LPUSHes it onto the same list, over one persistent connection per process. Profiling showed
`apply_async` costing more than half of a webhook request (a new Redis client object per
publish, routing, option merging, argument reprs, retry wrappers). The worker cannot tell the
two apart (tests/integrations/test_fast_publish.py compares them byte for byte, apart from ids,
and runs a real worker on one). Anything unusual (a countdown, another broker, a key prefix,
eager mode, a Redis error) goes through `apply_async` as before.
"""

from __future__ import annotations

import base64
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterable, Sequence

import orjson
from celery.utils.saferepr import saferepr
from kombu.exceptions import OperationalError as BrokerError

from apps.core import conf
from apps.core.enqueue import task_named

logger = logging.getLogger(__name__)

# High-volume trade feeds get their own queue (CELERY_TASK_ROUTES routes the *_trade_* tasks).
TRADE_EVENT_TYPES = frozenset({"trade.closed"})
CHUNK_SIZE = 200

# The processing tasks (apps.integrations.inbound.tasks), published by name: this module does not
# import the tasks module, which imports the services that import this one. The names never
# change: queued messages, routes (CELERY_TASK_ROUTES) and beat schedules refer to them.
PROCESS_EVENT_TASK = "integrations.process_inbound_event"
PROCESS_TRADE_EVENT_TASK = "integrations.process_inbound_trade_event"
PROCESS_EVENTS_TASK = "integrations.process_inbound_events"
PROCESS_TRADE_EVENTS_TASK = "integrations.process_inbound_trade_events"
SWEEP_TASK = "integrations.sweep_inbound_events"
# Batch claiming (AFFILIATEHUB_INBOUND_CLAIM_BATCH > 0): intake wakes a drain task per queue
# instead of publishing one message per event; the drain claims ready events in batches.
DRAIN_TASK = "integrations.drain_inbound_events"
DRAIN_TRADES_TASK = "integrations.drain_inbound_trade_events"


class _RedisPublisher:
    """Celery message protocol 2 over kombu's Redis transport framing, one LPUSH per task.

    The Redis list item is what kombu's `Channel._put` pushes: a JSON object with the
    base64-encoded body, content type/encoding, Celery's headers and the AMQP-like properties
    (`delivery_info` names the anonymous direct exchange and the queue, as Celery's
    `send_task_message` does for direct queues). Priority 0 lands on the queue's own key.
    """

    _EMBED = b'{"callbacks":null,"errbacks":null,"chain":null,"chord":null}'

    def __init__(self, app, url: str, options: dict):
        import redis
        from celery.utils.nodenames import anon_nodename

        self.pid = os.getpid()
        timeout = _publish_timeout()
        self.client = redis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            socket_keepalive=True,
            health_check_interval=0,  # a broken socket raises, and we fall back to apply_async
        )
        self.errors = (redis.RedisError, OSError)
        self.app = app
        self.origin = anon_nodename()
        self.reply_to = app.thread_oid
        self.queues: dict[str, str | None] = {}
        self.wake_script = None

    def queue_for(self, task) -> str | None:
        """The Redis list of the task's queue, or None when routing is not a plain direct queue."""
        name = task.name
        if name not in self.queues:
            queue = self.app.amqp.router.route({}, name, (), {}).get("queue")
            exchange_type = getattr(getattr(queue, "exchange", None), "type", "direct")
            plain = queue is not None and not isinstance(queue, str) and exchange_type == "direct"
            self.queues[name] = queue.name if plain else None
        return self.queues[name]

    def message(self, task, args: list, queue: str) -> bytes:
        task_id = str(uuid.uuid4())
        body = b"[" + orjson.dumps(args) + b",{}," + self._EMBED + b"]"
        if len(args) == 1 and type(args[0]) is int:
            args_repr = repr(args)  # what Celery's saferepr gives for one int
        else:  # a chunk of ids: Celery's own (truncating) repr
            args_repr = saferepr(
                args, self.app.amqp.argsrepr_maxsize, maxlevels=self.app.conf.task_repr_maxlevels
            )
        return orjson.dumps(
            {
                "body": base64.b64encode(body).decode(),
                "content-encoding": "utf-8",
                "content-type": "application/json",
                "headers": {
                    "lang": "py",
                    "task": task.name,
                    "id": task_id,
                    "shadow": None,
                    "eta": None,
                    "expires": None,
                    "group": None,
                    "group_index": None,
                    "retries": 0,
                    "timelimit": [None, None],
                    "root_id": task_id,
                    "parent_id": None,
                    "argsrepr": args_repr,
                    "kwargsrepr": "{}",
                    "origin": self.origin,
                    "ignore_result": bool(task.ignore_result),
                    "replaced_task_nesting": 0,
                    "stamped_headers": None,
                    "stamps": {},
                },
                "properties": {
                    "correlation_id": task_id,
                    "reply_to": self.reply_to,
                    "delivery_mode": 2,
                    "delivery_info": {"exchange": "", "routing_key": queue},
                    "priority": 0,
                    "body_encoding": "base64",
                    "delivery_tag": str(uuid.uuid4()),
                },
            }
        )

    def publish(self, task, args: list) -> bool | None:
        """LPUSH the task's message: True when published, False when this task needs the
        regular path, None when the broker did not take it (already retried once on a fresh
        connection, in case the old one broke when the broker restarted)."""
        queue = self.queue_for(task)
        if queue is None:
            return False
        message = self.message(task, args, queue)
        for attempt in (1, 2):
            try:
                self.client.lpush(queue, message)
                return True
            except self.errors:
                if attempt == 2:
                    logger.warning(
                        "Broker unavailable; %s%r left to the outbox sweeper.",
                        task.name,
                        args,
                        exc_info=True,
                    )
        return None

    # SET the queue's "a drain is on its way" key unless it is set, and only then push the
    # wake-up: one round trip, atomic, so N webhooks in a burst publish one message, not N.
    _WAKE_SCRIPT = (
        "if redis.call('set', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then "
        "redis.call('lpush', KEYS[2], ARGV[2]) return 1 end return 0"
    )

    def wake(self, task, key: str, ttl_ms: int) -> bool | None:
        """Push a drain wake-up unless one is pending (`key` set): True when pushed or already
        pending, False when the task needs the regular path, None when the broker failed."""
        queue = self.queue_for(task)
        if queue is None:
            return False
        if self.wake_script is None:
            self.wake_script = self.client.register_script(self._WAKE_SCRIPT)
        message = self.message(task, [], queue)
        for attempt in (1, 2):
            try:
                self.wake_script(keys=[key, queue], args=[ttl_ms, message])
                return True
            except self.errors:
                if attempt == 2:
                    logger.warning("Broker unavailable; %s not woken.", task.name, exc_info=True)
        return None

    def forget_wake(self, key: str) -> None:
        """The drain found nothing: the next event must wake a new one."""
        for attempt in (1, 2):
            try:
                self.client.delete(key)
                return
            except self.errors:
                if attempt == 2:
                    raise


def _publish_timeout() -> float:
    return conf.number("AFFILIATEHUB_PUBLISH_TIMEOUT")


class _BrokerGate:
    """After a failed publish, this process skips the broker for a short while.

    Each skipped or failed publish is counted (`publish_failures`): the health page and
    /metrics show them, and the sweeper enqueues the events once the broker answers again.
    """

    def __init__(self) -> None:
        self.closed_until = 0.0
        self.lock = threading.Lock()
        self.pending = 0  # failures not yet written to PublishFailureStat

    def is_open(self) -> bool:
        return time.monotonic() >= self.closed_until

    def note_failure(self) -> None:
        backoff = conf.number("AFFILIATEHUB_PUBLISH_BACKOFF_SECONDS")
        with self.lock:
            self.pending += 1
            self.closed_until = time.monotonic() + backoff

    def note_skipped(self) -> None:
        with self.lock:
            self.pending += 1

    def reset(self) -> None:
        with self.lock:
            self.closed_until, self.pending = 0.0, 0

    def take_pending(self) -> int:
        with self.lock:
            pending, self.pending = self.pending, 0
        return pending

    def give_back(self, count: int) -> None:
        with self.lock:
            self.pending += count


broker_gate = _BrokerGate()


_publisher: _RedisPublisher | None = None
_publisher_checked_pid: int | None = None


def _fast_publisher(task) -> _RedisPublisher | None:
    """This process's direct publisher, or None when the broker or settings rule it out."""
    global _publisher, _publisher_checked_pid
    pid = os.getpid()
    if _publisher_checked_pid == pid:
        return _publisher
    app = task.app
    celery = app.conf
    url = celery.broker_url or ""
    options = dict(celery.broker_transport_options or {})
    usable = (
        conf.flag("AFFILIATEHUB_DIRECT_PUBLISH")
        and isinstance(url, str)
        and url.startswith("redis://")
        and ";" not in url  # failover lists: kombu's job
        and not celery.task_always_eager
        and not options.get("global_keyprefix")
        and celery.task_protocol == 2
        and celery.task_serializer == "json"
        and not celery.task_compression
    )
    _publisher = _RedisPublisher(app, url, options) if usable else None
    _publisher_checked_pid = pid  # after fork (prefork workers) a new connection is made
    return _publisher


def _forget_publisher() -> None:
    global _publisher, _publisher_checked_pid
    _publisher, _publisher_checked_pid = None, None


def _publish(task, args, countdown: float | None = None, *, direct: bool | None = None) -> None:
    if not broker_gate.is_open():
        broker_gate.note_skipped()
        return
    if direct is None:  # one event id: the hot path
        direct = countdown is None and len(args) == 1 and type(args[0]) is int
    if direct:
        publisher = _fast_publisher(task)
        if publisher is not None:
            published = publisher.publish(task, list(args))
            if published:
                return
            if published is None:
                broker_gate.note_failure()
                return
    try:
        # No publish retries (kombu's default policy waits seconds on a dead broker): the
        # sweeper is the retry.
        task.apply_async(args=args, countdown=countdown, retry=False)
    except _broker_errors():
        logger.warning(
            "Broker unavailable; %s%r left to the outbox sweeper.", task.name, args, exc_info=True
        )
        broker_gate.note_failure()


def _broker_errors() -> tuple[type[BaseException], ...]:
    import redis

    return (BrokerError, redis.RedisError, OSError)


def _publish_chunk(task, event_ids: list[int]) -> None:
    """One task over a chunk of event ids, published directly when it can be (as one id is):
    apply_async cost ~3 ms a message, a tenth of a reconciliation's time per page."""
    _publish(task, [event_ids], direct=True)


def enqueue_event(event_id: int, event_type: str, *, countdown: float | None = None) -> None:
    name = PROCESS_TRADE_EVENT_TASK if event_type in TRADE_EVENT_TYPES else PROCESS_EVENT_TASK
    _publish(task_named(name), [event_id], countdown)


def enqueue_events(events: Iterable[tuple[int, str]]) -> None:
    """Enqueue many (id, type) pairs: one message per event, or per chunk when there are many."""
    events = list(events)
    if len(events) <= 2:
        for event_id, event_type in events:
            enqueue_event(event_id, event_type)
        return
    trades = [event_id for event_id, event_type in events if event_type in TRADE_EVENT_TYPES]
    others = [event_id for event_id, event_type in events if event_type not in TRADE_EVENT_TYPES]
    for name, ids in ((PROCESS_TRADE_EVENTS_TASK, trades), (PROCESS_EVENTS_TASK, others)):
        task = task_named(name)
        for start in range(0, len(ids), CHUNK_SIZE):
            _publish_chunk(task, ids[start : start + CHUNK_SIZE])


def claim_batch_size() -> int:
    """AFFILIATEHUB_INBOUND_CLAIM_BATCH: events a drain claims at a time; 0 = one message per
    event (the path before batch claiming). Unset, it follows the broker: batch claiming pays
    where a burst of webhooks wakes one drain (Redis: `_wake` coalesces), and with any other
    broker each webhook would still publish a wake-up, so one message per event is kept there."""
    value = conf.get("AFFILIATEHUB_INBOUND_CLAIM_BATCH")
    if value is None:
        from celery import current_app

        url = current_app.conf.broker_url or ""
        return DEFAULT_CLAIM_BATCH if isinstance(url, str) and url.startswith("redis") else 0
    return int(value)


DEFAULT_CLAIM_BATCH = 100
# How long a drain wake-up counts as pending when no drain says it went idle (a drain that
# died): after that the next event publishes a new one.
WAKE_PENDING_MS = 2000


def _drain_key(task_name: str) -> str:
    return f"affiliatehub:pending:{task_name}"


def wake_drain(*, trades: bool, force: bool = False) -> None:
    """Make sure a drain task of the queue will run: publish one unless one is pending (Redis
    brokers; others get a message each time). `force`: publish even if one is pending (a drain
    that found a full batch asks another worker to help)."""
    task = task_named(DRAIN_TRADES_TASK if trades else DRAIN_TASK)
    if not broker_gate.is_open():
        broker_gate.note_skipped()
        return
    publisher = None if force else _fast_publisher(task)
    if publisher is not None:
        woken = publisher.wake(task, _drain_key(task.name), WAKE_PENDING_MS)
        if woken:
            return
        if woken is None:
            broker_gate.note_failure()
            return
    _publish(task, [], direct=True)


def drain_idle(*, trades: bool | None) -> None:
    """A drain found no ready event: forget its pending mark (both queues' for a drain of both),
    so the next event wakes a new one (the drain then claims once more, for events that came in
    between)."""
    for queue_trades in (False, True) if trades is None else (trades,):
        name = DRAIN_TRADES_TASK if queue_trades else DRAIN_TASK
        publisher = _fast_publisher(task_named(name))
        if publisher is not None:
            try:
                publisher.forget_wake(_drain_key(name))
            except publisher.errors:
                logger.warning("Broker unavailable; pending mark of %s kept.", name, exc_info=True)


def drain_kind_for_worker(trades: bool) -> bool | None:
    """What a drain task of the `trades` queue (or of the default one) claims in this worker
    process: both kinds of events (None) when the worker consumes both queues, else its own.

    A worker of both queues (make run's and the benchmarks' two-process layout) would otherwise
    keep one queue's events waiting while it drains the other for the drain's whole time budget:
    at 200 events/s with two such workers, both were often draining the default queue (the
    second woken to help with a full batch) and trades waited 10 s and more (bench scale,
    2026-12-08). Workers given one queue (`-Q trades`, `-Q celery`: the scale-out topology)
    claim that queue's events only."""
    from affiliatehub.celery import app  # the project's app, which the worker runs

    routes = app.conf.task_routes or {}
    trades_queue = routes.get(DRAIN_TRADES_TASK, {}).get("queue")
    consumed = app.amqp.queues.consume_from or {}
    if trades_queue and {app.conf.task_default_queue, trades_queue} <= set(consumed):
        return None
    return trades


def announce_events(events: Iterable[tuple[int, str]]) -> None:
    """New events are ready (intake): with batch claiming, wake the drains of their
    queues; otherwise publish their messages (`enqueue_events`)."""
    events = list(events)
    if not events:
        return
    if claim_batch_size() <= 0:
        enqueue_events(events)
        return
    kinds = {event_type in TRADE_EVENT_TYPES for _, event_type in events}
    for trades in sorted(kinds):
        wake_drain(trades=trades)


def enqueue_sequence(event_ids: Sequence[int]) -> None:
    """One task that processes the events one after another, in the given order."""
    if event_ids:
        _publish(task_named(PROCESS_EVENTS_TASK), [list(event_ids)])


# --- counting publish failures ---------------------------------------------------------------

PUBLISH_FAILURE_FLUSH_SECONDS = 1.0
PUBLISH_FAILURE_SHARDS = 8
_failures_flushed_at = 0.0


def publish_failures_flush(*, only_if_due: bool = False) -> int:
    """Add this process's uncounted publish failures to the current hour's PublishFailureStat
    (one upsert); returns how many it wrote. Called after each request and task, and at exit."""
    global _failures_flushed_at
    if only_if_due and time.monotonic() - _failures_flushed_at < PUBLISH_FAILURE_FLUSH_SECONDS:
        return 0
    pending = broker_gate.take_pending()
    if not pending:
        return 0
    _failures_flushed_at = time.monotonic()
    from django.db import connection
    from django.utils import timezone

    from apps.integrations.models import PublishFailureStat

    table = PublishFailureStat._meta.db_table
    hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                INSERT INTO {table} (hour, shard, failures) VALUES (%s, %s, %s)
                ON CONFLICT (hour, shard)
                DO UPDATE SET failures = {table}.failures + EXCLUDED.failures
                """,  # noqa: S608 - the table name is ours, values are parameters
                [hour, os.getpid() % PUBLISH_FAILURE_SHARDS, pending],
            )
    except Exception:
        broker_gate.give_back(pending)  # counted again next time
        raise
    return pending
