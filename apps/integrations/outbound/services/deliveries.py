"""Deliveries in: outcome handlers of the senders that react to a delivery's fate, and the
enqueueing of messages (the delivery row is the outbox, written in the sender's transaction)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from apps.core import partitions
from apps.core.enqueue import task_named
from apps.integrations.outbound.models import (
    DELIVERY_TABLE,
    SUBSCRIBER_EVENT_TYPES,
    OutboundDelivery,
    OutboundDeliveryKey,
    OutboundEndpoint,
)
from apps.integrations.outbound.services.common import SEND_TASK, Kind, OutboundError, logger

# ---------------------------------------------------------------------------------------------
# Outcome handlers


@dataclass(frozen=True)
class DeliveryOutcome:
    """A final outcome of a delivery, told to the sender that registered its topic."""

    delivery_id: int
    topic: str
    subject: str
    idempotency_key: str
    event_type: str
    status: str  # succeeded / dead
    response_code: int | None
    response_body: str
    error: str


OutcomeHandler = Callable[[DeliveryOutcome], None]
_outcome_handlers: dict[str, list[OutcomeHandler]] = {}


def register_outcome_handler(topic: str, handler: OutcomeHandler) -> None:
    handlers = _outcome_handlers.setdefault(topic, [])
    if handler not in handlers:
        handlers.append(handler)


def outcome_notify(delivery: OutboundDelivery) -> None:
    if not delivery.topic:
        return
    outcome = DeliveryOutcome(
        delivery_id=delivery.pk,
        topic=delivery.topic,
        subject=delivery.subject,
        idempotency_key=delivery.idempotency_key,
        event_type=delivery.event_type,
        status=delivery.status,
        response_code=delivery.last_response_code,
        response_body=delivery.last_response_body,
        error=delivery.last_error,
    )
    for handler in _outcome_handlers.get(delivery.topic, ()):
        handler(outcome)


# ---------------------------------------------------------------------------------------------
# Enqueueing


def new_message_id() -> str:
    return "msg_" + uuid.uuid4().hex


def delivery_enqueue(
    *,
    endpoint: OutboundEndpoint,
    event_type: str,
    payload: dict,
    idempotency_key: str,
    url: str | None = None,
    method: str = "POST",
    headers: dict[str, str] | None = None,
    topic: str = "",
    subject: str = "",
) -> tuple[OutboundDelivery, bool]:
    """Record one message to send (idempotent on `idempotency_key`); sent after commit.

    Call inside the transaction that makes the business change, so the message exists if and
    only if the change does. Returns (delivery, created). Idempotent across months and
    archives: the key lives in OutboundDeliveryKey (see _KEY_SQL).
    """
    if method not in OutboundDelivery.Method.values:
        raise OutboundError(f"Unsupported method {method!r}.")
    key = idempotency_key[:255]
    now = timezone.now()
    with transaction.atomic():
        partitions.partitions_ensure_for(DELIVERY_TABLE, now)
        with connection.cursor() as cursor:
            cursor.execute(_KEY_SQL, [key, now])
            row = cursor.fetchone()
        if row is None:
            return _delivery_of_key(key, endpoint=endpoint, event_type=event_type), False
        delivery = OutboundDelivery.objects.create(
            id=row[0],
            created_at=now,
            idempotency_key=key,
            endpoint=endpoint,
            event_type=event_type,
            topic=topic,
            subject=subject[:200],
            message_id=new_message_id(),
            method=method,
            url=url or endpoint.url,
            payload=payload,
            headers=headers or {},
            next_attempt_at=now,
        )
        delivery_id = delivery.pk
        transaction.on_commit(lambda: enqueue_send(delivery_id))
    return delivery, True


# The delivery table is partitioned by month (apps.core.partitions) and cannot hold a unique key
# without created_at: the key table holds it. The key takes the delivery's id from the delivery
# table's sequence; only the caller that created the key inserts the delivery, in the same
# transaction. A concurrent enqueue of the same key waits on the key's index until this one
# commits, then finds the key.
_KEY_SQL = """
INSERT INTO integrations_outbounddeliverykey (idempotency_key, delivery_id, created_at)
VALUES (%s, nextval('integrations_outbounddelivery_id_seq'), %s)
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING delivery_id
"""


def _delivery_of_key(key: str, *, endpoint: OutboundEndpoint, event_type: str) -> OutboundDelivery:
    """The delivery an existing key names. When its month was archived (it was succeeded or
    dead), an unsaved stand-in with its id, key and creation time, and no status."""
    found = OutboundDeliveryKey.objects.get(pk=key)
    delivery = OutboundDelivery.objects.filter(
        pk=found.delivery_id, created_at=found.created_at
    ).first()
    if delivery is None:
        delivery = OutboundDelivery(
            pk=found.delivery_id,
            idempotency_key=key,
            created_at=found.created_at,
            endpoint=endpoint,
            event_type=event_type,
            status="",
        )
    return delivery


def subscriber_envelope(
    event_type: str, data: dict, occurred_at: dt.datetime | None = None
) -> dict:
    """The §1-shaped envelope subscribers receive: {"type", "timestamp", "data"}."""
    return {
        "type": event_type,
        "timestamp": (occurred_at or timezone.now()).isoformat(),
        "data": data,
    }


def subscriber_event_publish(
    event_type: str,
    payload: dict,
    *,
    idempotency_key: str | None = None,
    occurred_at: dt.datetime | None = None,
) -> list[OutboundDelivery]:
    """Send a §6 event to every active subscriber of its type (one delivery each).

    `payload` is the event's data (JSON-safe: amounts as strings). `idempotency_key` names the
    business fact (e.g. "payout.completed:PO-..."): publishing it again adds nothing.
    """
    if event_type not in SUBSCRIBER_EVENT_TYPES:
        raise OutboundError(
            f"{event_type!r} is not a subscriber event type ({', '.join(SUBSCRIBER_EVENT_TYPES)})."
        )
    key = idempotency_key or f"{event_type}:{uuid.uuid4().hex}"
    envelope = subscriber_envelope(event_type, payload, occurred_at)
    deliveries = []
    endpoints = OutboundEndpoint.objects.filter(
        kind=Kind.SUBSCRIBER, is_active=True, event_types__contains=[event_type]
    ).order_by("pk")
    for endpoint in endpoints:
        delivery, _ = delivery_enqueue(
            endpoint=endpoint,
            event_type=event_type,
            payload=envelope,
            idempotency_key=f"sub:{endpoint.pk}:{key}",
            topic="subscriber",
            subject=key[:200],
        )
        deliveries.append(delivery)
    return deliveries


def enqueue_send(delivery_id: int, *, countdown: float | None = None) -> None:
    """Publish the send task. A broker outage is logged: the sweeper picks the row up later.

    No publish retries (kombu's default policy would hold an admin action for seconds while the
    broker is down), the same rule as inbound dispatch."""
    try:
        task_named(SEND_TASK).apply_async(args=[delivery_id], countdown=countdown, retry=False)
    except (BrokerError, OSError):
        logger.warning(
            "Broker unavailable; delivery %s left to the sweeper.", delivery_id, exc_info=True
        )


def enqueue_many(delivery_ids: Iterable[int]) -> None:
    for delivery_id in delivery_ids:
        enqueue_send(delivery_id)
