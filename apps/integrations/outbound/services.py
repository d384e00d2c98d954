"""The outbound delivery engine (WEBHOOKS.md §6, §7): one write path for every message we send.

Domain apps call, inside their own transaction (the delivery row is the outbox):

- `delivery_enqueue(endpoint=..., event_type=..., payload=..., idempotency_key=...)`: one
  message to one endpoint (payout requests, postbacks), idempotent on the key;
- `subscriber_event_publish(event_type, payload, idempotency_key=...)`: one message to every
  active subscriber of a §6 event type, signed the Standard Webhooks way.

After commit a Celery task sends it, outside any database transaction: a short transaction
claims the row (`SKIP LOCKED`), the HTTP request runs with no transaction open (15 s timeout),
and another short transaction records the attempt and the outcome. Only 2xx is success; other
answers and network errors are retried on the §6 schedule (at once, 5 s, 5 min, 30 min, 2 h,
5 h, 10 h, 10 h, with jitter; `Retry-After` honoured), then the delivery is dead-lettered
with an alert. 410 disables the endpoint; so does failing for 5 days.

Senders that must react to the outcome (payouts: "the gateway accepted the request" or "it
never did") register an outcome handler for their `topic` in their AppConfig.ready():
`outbound.register_outcome_handler("payout.request", handler)`. The handler runs inside the
transaction that records the outcome, and must be idempotent.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import orjson
import requests
from django.db import connection, transaction
from django.db.models import Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError
from standardwebhooks.webhooks import Webhook

from apps.core import conf
from apps.core.alerts import DELIVERY_DEAD, ENDPOINT_DISABLED, alert_raise
from apps.core.audit import audit_record, snapshot
from apps.core.enqueue import task_named
from apps.core.outbound_policy import OutboundAddressRefused, policy_session
from apps.integrations.outbound.models import (
    SUBSCRIBER_EVENT_TYPES,
    DeliveryAttempt,
    DeliveryStatus,
    EndpointUrlChange,
    OutboundDelivery,
    OutboundEndpoint,
)
from apps.integrations.signing import generate_secret

logger = logging.getLogger(__name__)

# Task names (apps.integrations.outbound.tasks): queued messages and beat schedules refer to them.
SEND_TASK = "integrations.send_outbound_delivery"
SWEEP_TASK = "integrations.sweep_outbound_deliveries"

Status = DeliveryStatus
Kind = OutboundEndpoint.Kind

RESPONSE_EXCERPT_BYTES = 1024
USER_AGENT = "AffiliateHub-Webhooks/1.0"


class OutboundError(ValueError):
    """Bad input to an outbound service (shown to the operator as is)."""


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


def _notify(delivery: OutboundDelivery) -> None:
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
# Endpoints


def endpoint_create(
    *,
    name: str,
    kind: str,
    url: str,
    event_types: Iterable[str] = (),
    secret: str | None = None,
    acting_user=None,
) -> OutboundEndpoint:
    """Create an endpoint. Subscribers get a fresh `whsec_` secret unless one is given."""
    if kind not in Kind.values:
        raise OutboundError(
            f"Unknown endpoint kind {kind!r}; choose one of {', '.join(Kind.values)}."
        )
    event_types = sorted(set(event_types))
    unknown = [t for t in event_types if t not in SUBSCRIBER_EVENT_TYPES]
    if unknown:
        raise OutboundError(
            f"Unknown event types {unknown}; subscribers may receive {', '.join(SUBSCRIBER_EVENT_TYPES)}."
        )
    if kind == Kind.SUBSCRIBER:
        secret = secret or generate_secret()
        if not secret.startswith("whsec_"):
            raise OutboundError("A subscriber secret starts with whsec_.")
    with transaction.atomic():
        endpoint = OutboundEndpoint.objects.create(
            name=name, kind=kind, url=url, event_types=event_types, secret=secret or ""
        )
        audit_record(
            action="outbound_endpoint.created",
            instance=endpoint,
            actor=acting_user,
            actor_label="" if acting_user else "system",
            after=snapshot(endpoint, ["name", "kind", "url", "event_types"]),
        )
    return endpoint


def endpoint_update(*, endpoint: OutboundEndpoint, acting_user=None, **changes) -> OutboundEndpoint:
    """Change an endpoint's url, event types or name (audited).

    A person may not re-point the payment gateway alone: for a gateway endpoint, a URL change by a
    staff user goes through `endpoint_url_change_request` and a second person's approval. System
    callers (acting_user None: deployment commands run by whoever operates the servers) may."""
    allowed = {"url", "event_types", "name"}
    unknown = set(changes) - allowed
    if unknown:
        raise OutboundError(f"Cannot change {', '.join(sorted(unknown))} here.")
    if (
        "url" in changes
        and acting_user is not None
        and endpoint.kind == OutboundEndpoint.Kind.GATEWAY
        and changes["url"] != endpoint.url
    ):
        raise OutboundError(
            "The payment gateway's URL changes only with a second person's approval: "
            "request the change, and another user approves it."
        )
    if "event_types" in changes:
        bad = [t for t in changes["event_types"] if t not in SUBSCRIBER_EVENT_TYPES]
        if bad:
            raise OutboundError(f"Unknown event types {bad}.")
        changes["event_types"] = sorted(set(changes["event_types"]))
    with transaction.atomic():
        locked = OutboundEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        before = snapshot(locked, sorted(changes))
        for name, value in changes.items():
            setattr(locked, name, value)
        locked.save(update_fields=[*changes, "updated_at"])
        audit_record(
            action="outbound_endpoint.updated",
            instance=locked,
            actor=acting_user,
            actor_label="" if acting_user else "system",
            before=before,
            after=snapshot(locked, sorted(changes)),
        )
    return locked


def endpoint_url_change_request(
    *, endpoint: OutboundEndpoint, url: str, acting_user
) -> EndpointUrlChange:
    """Ask to point the payment-gateway endpoint at `url`; a second person approves (audited)."""
    with transaction.atomic():
        locked = OutboundEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        if locked.kind != OutboundEndpoint.Kind.GATEWAY:
            raise OutboundError(
                "Only the payment gateway's URL needs an approval; change this one directly."
            )
        if url == locked.url:
            raise OutboundError("That is already the gateway's URL.")
        if locked.url_changes.filter(status=EndpointUrlChange.Status.PENDING).exists():
            raise OutboundError("A change of this endpoint's URL is already waiting for approval.")
        change = EndpointUrlChange.objects.create(
            endpoint=locked, url_before=locked.url, url_after=url, requested_by=acting_user
        )
        audit_record(
            action="outbound_endpoint.url_change_requested",
            instance=locked,
            actor=acting_user,
            before={"url": locked.url},
            after={"url": url},
        )
    return change


def endpoint_url_change_approve(*, change: EndpointUrlChange, acting_user) -> OutboundEndpoint:
    """A second person approves: the endpoint now points at the requested URL (audited)."""
    with transaction.atomic():
        locked = (
            EndpointUrlChange.objects.select_for_update()
            .select_related("endpoint")
            .get(pk=change.pk)
        )
        _decidable(locked, acting_user)
        endpoint = OutboundEndpoint.objects.select_for_update().get(pk=locked.endpoint_id)
        if endpoint.url != locked.url_before:
            raise OutboundError(
                "The endpoint's URL changed since this request was made: reject it and ask again."
            )
        endpoint.url = locked.url_after
        endpoint.save(update_fields=["url", "updated_at"])
        locked.status, locked.decided_by, locked.decided_at = (
            EndpointUrlChange.Status.APPROVED,
            acting_user,
            timezone.now(),
        )
        locked.save(update_fields=["status", "decided_by", "decided_at"])
        audit_record(
            action="outbound_endpoint.url_change_approved",
            instance=endpoint,
            actor=acting_user,
            before={"url": locked.url_before},
            after={"url": locked.url_after},
            reason=f"requested by {locked.requested_by}",
        )
    return endpoint


def endpoint_url_change_reject(
    *, change: EndpointUrlChange, acting_user, reason: str
) -> EndpointUrlChange:
    with transaction.atomic():
        locked = EndpointUrlChange.objects.select_for_update().get(pk=change.pk)
        _decidable(locked, acting_user)
        locked.status, locked.decided_by, locked.decided_at = (
            EndpointUrlChange.Status.REJECTED,
            acting_user,
            timezone.now(),
        )
        locked.reason = reason
        locked.save(update_fields=["status", "decided_by", "decided_at", "reason"])
        audit_record(
            action="outbound_endpoint.url_change_rejected",
            instance=locked.endpoint,
            actor=acting_user,
            before={"url": locked.url_before},
            after={"url": locked.url_before},
            reason=reason,
        )
    return locked


def _decidable(change: EndpointUrlChange, acting_user) -> None:
    if change.status != EndpointUrlChange.Status.PENDING:
        raise OutboundError(f"This request is already {change.get_status_display().lower()}.")
    if acting_user is None or acting_user.pk == change.requested_by_id:
        raise OutboundError(
            "The person who asked for a gateway URL change cannot approve or reject it: "
            "another user decides."
        )


def endpoint_disable(
    *, endpoint: OutboundEndpoint, reason: str, acting_user=None, actor_label: str = ""
) -> bool:
    """Disable an endpoint with its reason and an alert. False when it was already disabled."""
    with transaction.atomic():
        locked = OutboundEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        if not locked.is_active:
            return False
        locked.is_active, locked.disabled_reason, locked.disabled_at = (
            False,
            reason[:300],
            timezone.now(),
        )
        locked.save(update_fields=["is_active", "disabled_reason", "disabled_at", "updated_at"])
        alert_raise(
            kind=ENDPOINT_DISABLED,
            message=reason,
            scope=locked.name,
            refs={"endpoint_id": locked.pk},
        )
        audit_record(
            action="outbound_endpoint.disabled",
            instance=locked,
            actor=acting_user,
            actor_label=actor_label or ("" if acting_user else "outbound engine"),
            reason=reason,
        )
    logger.error("Outbound endpoint %s (%s) disabled: %s", locked.name, locked.url, reason)
    return True


def endpoint_enable(*, endpoint: OutboundEndpoint, acting_user=None) -> OutboundEndpoint:
    """Enable an endpoint again; its waiting deliveries are sent at once."""
    with transaction.atomic():
        locked = OutboundEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        if locked.is_active:
            return locked
        before = snapshot(locked, ["is_active", "disabled_reason"])
        locked.is_active, locked.disabled_reason, locked.disabled_at = True, "", None
        locked.failing_since = None
        locked.save(
            update_fields=[
                "is_active",
                "disabled_reason",
                "disabled_at",
                "failing_since",
                "updated_at",
            ]
        )
        audit_record(
            action="outbound_endpoint.enabled", instance=locked, actor=acting_user, before=before
        )
        now = timezone.now()
        waiting = list(
            OutboundDelivery.objects.filter(
                endpoint=locked, status__in=[Status.PENDING, Status.FAILED]
            ).values_list("pk", flat=True)
        )
        OutboundDelivery.objects.filter(pk__in=waiting).update(next_attempt_at=now)
        transaction.on_commit(lambda: _enqueue_many(waiting))
    return locked


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
    only if the change does. Returns (delivery, created).
    """
    if method not in OutboundDelivery.Method.values:
        raise OutboundError(f"Unsupported method {method!r}.")
    now = timezone.now()
    with transaction.atomic():
        delivery, created = OutboundDelivery.objects.get_or_create(
            idempotency_key=idempotency_key[:255],
            defaults={
                "endpoint": endpoint,
                "event_type": event_type,
                "topic": topic,
                "subject": subject[:200],
                "message_id": new_message_id(),
                "method": method,
                "url": url or endpoint.url,
                "payload": payload,
                "headers": headers or {},
                "next_attempt_at": now,
            },
        )
        if created:
            delivery_id = delivery.pk
            transaction.on_commit(lambda: enqueue_send(delivery_id))
    return delivery, created


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


def _enqueue_many(delivery_ids: Iterable[int]) -> None:
    for delivery_id in delivery_ids:
        enqueue_send(delivery_id)


# ---------------------------------------------------------------------------------------------
# Sending


def retry_delay(attempts_done: int, retry_after: float | None = None) -> float | None:
    """Seconds before the next attempt after `attempts_done` attempts, or None when exhausted.

    The §6 schedule with +/- jitter; a Retry-After answer pushes the retry later, never earlier.
    """
    schedule = tuple(conf.get("AFFILIATEHUB_OUTBOUND_RETRY_SCHEDULE"))
    if attempts_done >= len(schedule):
        return None
    base = float(schedule[attempts_done])
    jitter = conf.number("AFFILIATEHUB_OUTBOUND_JITTER")
    delay = base * (1 + random.uniform(-jitter, jitter))
    if retry_after is not None:
        delay = max(
            delay,
            min(retry_after, conf.seconds("AFFILIATEHUB_OUTBOUND_MAX_RETRY_AFTER_SECONDS")),
        )
    return max(0.0, delay)


def parse_retry_after(value: str | None, *, now: dt.datetime | None = None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date. None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - (now or timezone.now())).total_seconds())


@dataclass(frozen=True)
class Claimed:
    """What the sender needs, read in the claim transaction (no model instance leaves it)."""

    delivery_id: int
    endpoint_id: int
    endpoint_kind: str
    secret: str
    message_id: str
    method: str
    url: str
    payload: dict
    headers: dict


@dataclass(frozen=True)
class HttpResult:
    response_code: int | None
    body: str
    error: str
    duration_ms: int
    retry_after: float | None
    started_at: dt.datetime
    # The outbound address policy refused the target: a configuration error, not retried.
    refused: bool = False


# Delivery outcomes returned by delivery_send.
SUCCEEDED, FAILED, DEAD, SKIPPED, PAUSED = "succeeded", "failed", "dead", "skipped", "paused"
_DUE_SLACK = dt.timedelta(seconds=2)
_HEALTH_REFRESH = dt.timedelta(seconds=5)


def delivery_claim(*, delivery_id: int, now: dt.datetime | None = None) -> Claimed | str:
    """Take a due delivery for sending (short transaction, SKIP LOCKED). Returns what to send,
    or SKIPPED (not due, done, or held by another worker) / PAUSED (endpoint disabled)."""
    now = now or timezone.now()
    with transaction.atomic():
        delivery = (
            OutboundDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("endpoint")
            .filter(pk=delivery_id, status__in=[Status.PENDING, Status.FAILED])
            .first()
        )
        if delivery is None:
            return SKIPPED
        if delivery.next_attempt_at and delivery.next_attempt_at > now + _DUE_SLACK:
            return SKIPPED
        endpoint = delivery.endpoint
        if not endpoint.is_active:
            return PAUSED
        delivery.status, delivery.claimed_at = Status.DELIVERING, now
        delivery.save(update_fields=["status", "claimed_at"])
        # The claim is a lease, not a fact: if a crash loses it, the row is simply still due and
        # is sent again (same webhook-id). So this commit need not wait for the WAL flush.
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
        return Claimed(
            delivery_id=delivery.pk,
            endpoint_id=endpoint.pk,
            endpoint_kind=endpoint.kind,
            secret=endpoint.secret,
            message_id=delivery.message_id,
            method=delivery.method,
            url=delivery.url,
            payload=delivery.payload,
            headers=dict(delivery.headers),
        )


def build_request(
    claimed: Claimed, *, at: dt.datetime | None = None
) -> tuple[dict[str, str], bytes | None]:
    """Headers and body of one attempt. Subscriber messages are signed (Standard Webhooks):
    `webhook-id` is the stable message id, `webhook-timestamp` this attempt's time."""
    headers = {"User-Agent": USER_AGENT, **claimed.headers}
    if claimed.method == "GET":
        return headers, None
    body = orjson.dumps(claimed.payload)
    headers["Content-Type"] = "application/json"
    if claimed.endpoint_kind == Kind.SUBSCRIBER:
        at = at or timezone.now()
        signature = Webhook(claimed.secret).sign(claimed.message_id, at, body.decode())
        headers |= {
            "webhook-id": claimed.message_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": signature,
        }
    else:
        # Gateways and trackers may dedupe on it too.
        headers.setdefault("webhook-id", claimed.message_id)
    return headers, body


_local = threading.local()


def _session() -> requests.Session:
    """One keep-alive session per thread (requests sessions are not shared across threads),
    connecting only where the outbound address policy allows."""
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = policy_session()
    return session


def http_send(claimed: Claimed) -> HttpResult:
    """The HTTP request itself. Never called with a database transaction open."""
    started_at = timezone.now()
    headers, body = build_request(claimed, at=started_at)
    timeout = conf.seconds("AFFILIATEHUB_OUTBOUND_TIMEOUT_SECONDS")
    start = time.perf_counter()
    try:
        response = _session().request(
            claimed.method,
            claimed.url,
            data=body,
            headers=headers,
            timeout=timeout,
            allow_redirects=False,
            stream=True,
        )
        try:
            excerpt = response.raw.read(RESPONSE_EXCERPT_BYTES, decode_content=True) or b""
        finally:
            response.close()
        code, error = response.status_code, ""
        text = excerpt.decode("utf-8", errors="replace").replace("\x00", "\ufffd")
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
    except requests.RequestException as exc:  # recorded on the attempt and retried
        code, text, retry_after = None, "", None
        error = f"{type(exc).__name__}: {exc}"[:2000]
    except OutboundAddressRefused as exc:  # nothing was sent: recorded, never retried
        duration_ms = int((time.perf_counter() - start) * 1000)
        return HttpResult(None, "", str(exc)[:2000], duration_ms, None, started_at, refused=True)
    duration_ms = int((time.perf_counter() - start) * 1000)
    return HttpResult(code, text, error, duration_ms, retry_after, started_at)


def delivery_record(*, claimed: Claimed, result: HttpResult) -> str:
    """Record one attempt and decide what follows (short transaction). Returns the outcome."""
    now = timezone.now()
    with transaction.atomic():
        delivery = OutboundDelivery.objects.select_for_update(of=("self",)).get(
            pk=claimed.delivery_id
        )
        number = (
            DeliveryAttempt.objects.filter(delivery=delivery)
            .order_by("-number")
            .values_list("number", flat=True)
            .first()
            or 0
        ) + 1
        DeliveryAttempt.objects.create(
            delivery=delivery,
            number=number,
            at=result.started_at,
            duration_ms=result.duration_ms,
            response_code=result.response_code,
            response_body=result.body,
            error=result.error,
            retry_after_seconds=int(result.retry_after) if result.retry_after is not None else None,
        )
        delivery.attempts += 1
        delivery.last_response_code = result.response_code
        delivery.last_response_body = result.body
        delivery.last_error = result.error
        delivery.claimed_at = None
        fields = [
            "attempts",
            "last_response_code",
            "last_response_body",
            "last_error",
            "claimed_at",
            "status",
            "next_attempt_at",
            "succeeded_at",
            "dead_at",
        ]
        code = result.response_code
        endpoint_q = OutboundEndpoint.objects.filter(pk=claimed.endpoint_id)

        # Endpoint health is written only when it changes (or is a few seconds stale): one hot
        # endpoint row updated by every delivery would serialise all senders on its row lock.
        stale = now - _HEALTH_REFRESH
        if code is not None and 200 <= code < 300:
            delivery.status, delivery.succeeded_at, delivery.next_attempt_at = (
                Status.SUCCEEDED,
                now,
                None,
            )
            delivery.save(update_fields=fields)
            endpoint_q.filter(
                Q(failing_since__isnull=False)
                | Q(last_success_at__isnull=True)
                | Q(last_success_at__lt=stale)
            ).update(last_success_at=now, failing_since=None)
            _notify(delivery)
            return SUCCEEDED

        endpoint_q.filter(
            Q(failing_since__isnull=True)
            | Q(last_failure_at__isnull=True)
            | Q(last_failure_at__lt=stale)
        ).update(failing_since=Coalesce("failing_since", Value(now)), last_failure_at=now)
        what = f"HTTP {code}" if code is not None else result.error
        if code == 410:
            reason = f"{delivery.url} answered 410 Gone (delivery {delivery.pk})."
            endpoint = OutboundEndpoint.objects.get(pk=claimed.endpoint_id)
            _dead(delivery, now, "Endpoint gone (410); endpoint disabled.", fields)
            endpoint_disable(endpoint=endpoint, reason=reason)
            _notify(delivery)
            return DEAD

        if result.refused:
            _dead(
                delivery,
                now,
                f"{result.error}. Not retried: correct the URL, or allow the host in "
                "AFFILIATEHUB_OUTBOUND_ALLOWED_HOSTS, then resend.",
                fields,
            )
            _notify(delivery)
            return DEAD

        delay = retry_delay(delivery.attempts, result.retry_after)
        if delay is None:
            _dead(
                delivery,
                now,
                f"No success after {delivery.attempts} attempts; last: {what}.",
                fields,
            )
            _notify(delivery)
            outcome = DEAD
        else:
            delivery.status = Status.FAILED
            delivery.next_attempt_at = now + dt.timedelta(seconds=delay)
            delivery.save(update_fields=fields)
            if delay <= conf.seconds("AFFILIATEHUB_OUTBOUND_MAX_COUNTDOWN_SECONDS"):
                delivery_id = delivery.pk
                transaction.on_commit(lambda: enqueue_send(delivery_id, countdown=delay))
            outcome = FAILED
        _disable_if_failing_too_long(claimed.endpoint_id, now)
    return outcome


def _dead(delivery: OutboundDelivery, now: dt.datetime, message: str, fields: list[str]) -> None:
    delivery.status, delivery.dead_at, delivery.next_attempt_at = Status.DEAD, now, None
    delivery.save(update_fields=fields)
    alert_raise(
        kind=DELIVERY_DEAD,
        message=f"{delivery.event_type} {delivery.subject or delivery.idempotency_key}: {message}",
        scope=delivery.endpoint.name,
        refs={"endpoint_id": delivery.endpoint_id, "delivery_id": delivery.pk},
    )
    logger.error(
        "Outbound delivery %s (%s to endpoint %s) is dead: %s",
        delivery.pk,
        delivery.event_type,
        delivery.endpoint_id,
        message,
    )


def _disable_if_failing_too_long(endpoint_id: int, now: dt.datetime) -> bool:
    limit = conf.duration("AFFILIATEHUB_OUTBOUND_DISABLE_AFTER")
    endpoint = OutboundEndpoint.objects.filter(
        pk=endpoint_id, is_active=True, failing_since__lte=now - limit
    ).first()
    if endpoint is None:
        return False
    return endpoint_disable(
        endpoint=endpoint,
        reason=f"No successful delivery since {endpoint.failing_since:%Y-%m-%d %H:%M} UTC (over {limit.days} days).",
    )


def delivery_send(*, delivery_id: int) -> str:
    """Claim, send, record: what the Celery task runs. Safe to run twice and concurrently."""
    claimed = delivery_claim(delivery_id=delivery_id)
    if not isinstance(claimed, Claimed):
        return claimed
    result = http_send(claimed)
    return delivery_record(claimed=claimed, result=result)


def deliveries_send_due(*, limit: int = 1000) -> dict[str, int]:
    """Send every due delivery now, one after another (tests, demos, the benchmark)."""
    counts: dict[str, int] = {}
    due = list(
        OutboundDelivery.objects.filter(
            status__in=[Status.PENDING, Status.FAILED],
            next_attempt_at__lte=timezone.now() + _DUE_SLACK,
            endpoint__is_active=True,
        )
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    for delivery_id in due:
        outcome = delivery_send(delivery_id=delivery_id)
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


# ---------------------------------------------------------------------------------------------
# Resend and sweep


def delivery_resend(*, delivery: OutboundDelivery, acting_user) -> OutboundDelivery:
    """Send a delivery again from the start of the schedule (same message id and idempotency
    headers, so the receiver can recognise it). Not while it is being sent."""
    with transaction.atomic():
        locked = OutboundDelivery.objects.select_for_update(of=("self",)).get(pk=delivery.pk)
        if locked.status == Status.DELIVERING:
            raise OutboundError(
                f"Delivery {locked.pk} is being sent right now; try again in a moment."
            )
        before = snapshot(locked, ["status", "attempts", "next_attempt_at"])
        locked.status, locked.attempts = Status.PENDING, 0
        locked.next_attempt_at, locked.dead_at = timezone.now(), None
        locked.save(update_fields=["status", "attempts", "next_attempt_at", "dead_at"])
        audit_record(
            action="outbound_delivery.resent",
            instance=locked,
            actor=acting_user,
            before=before,
            after=snapshot(locked, ["status", "attempts", "next_attempt_at"]),
        )
        delivery_id = locked.pk
        transaction.on_commit(lambda: enqueue_send(delivery_id))
    return locked


@dataclass(frozen=True)
class OutboundSweepResult:
    requeued: int
    reclaimed: int
    endpoints_disabled: int


def deliveries_sweep(*, now: dt.datetime | None = None) -> OutboundSweepResult:
    """Beat, every 10 s: enqueue due retries (long delays are never held in the broker),
    pending rows whose first message was lost, and reclaim rows a dead worker left
    `delivering`; disable endpoints failing for too long. Safe to run twice."""
    now = now or timezone.now()
    stuck = conf.duration("AFFILIATEHUB_OUTBOUND_STUCK_AFTER_SECONDS")
    timeout = conf.duration("AFFILIATEHUB_OUTBOUND_TIMEOUT_SECONDS")
    limit = conf.integer("AFFILIATEHUB_OUTBOUND_SWEEP_BATCH_SIZE")
    locked = OutboundDelivery.objects.select_for_update(skip_locked=True, of=("self",))
    with transaction.atomic():
        reclaimed = list(
            locked.filter(
                status=Status.DELIVERING, claimed_at__lt=now - timeout - stuck
            ).values_list("pk", flat=True)[:limit]
        )
        if reclaimed:
            # The worker died mid-request: the receiver may or may not have it; send again
            # (same message id, so receivers dedupe).
            OutboundDelivery.objects.filter(pk__in=reclaimed).update(
                status=Status.FAILED,
                next_attempt_at=now,
                claimed_at=None,
                last_error="The sending worker was lost; sent again.",
            )
        due = list(
            locked.filter(endpoint__is_active=True)
            .filter(
                Q(status=Status.FAILED, next_attempt_at__lte=now)
                | Q(status=Status.PENDING, next_attempt_at__lte=now - stuck)
            )
            .order_by("next_attempt_at", "pk")
            .values_list("pk", flat=True)[:limit]
        )
        # A pending row re-enqueued here is left alone for another `stuck` period.
        OutboundDelivery.objects.filter(pk__in=due, status=Status.PENDING).update(
            next_attempt_at=now
        )
        requeue = sorted(set(due) | set(reclaimed))
        if requeue:
            transaction.on_commit(lambda: _enqueue_many(requeue))
    disabled = 0
    limit_age = conf.duration("AFFILIATEHUB_OUTBOUND_DISABLE_AFTER")
    for endpoint_id in OutboundEndpoint.objects.filter(
        is_active=True, failing_since__lte=now - limit_age
    ).values_list("pk", flat=True):
        disabled += int(_disable_if_failing_too_long(endpoint_id, now))
    return OutboundSweepResult(
        requeued=len(requeue), reclaimed=len(reclaimed), endpoints_disabled=disabled
    )


def endpoint_health(endpoint_ids: Iterable[int], *, since: dt.datetime) -> dict[int, dict]:
    """Per endpoint: attempts and successes since `since`, success rate (None without attempts)."""
    from django.db.models import Count

    rows = (
        DeliveryAttempt.objects.filter(delivery__endpoint_id__in=list(endpoint_ids), at__gte=since)
        .values("delivery__endpoint_id")
        .annotate(
            total=Count("id"),
            ok=Count("id", filter=Q(response_code__gte=200, response_code__lt=300)),
        )
    )
    health = {}
    for row in rows:
        total, ok = row["total"], row["ok"]
        health[row["delivery__endpoint_id"]] = {
            "attempts": total,
            "successes": ok,
            "success_rate": ok / total if total else None,
        }
    return health
