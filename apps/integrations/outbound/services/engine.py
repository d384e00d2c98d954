"""The delivery engine: the retry schedule, claiming a due delivery, the HTTP request outside
any transaction, recording its outcome (dead-lettering and disabling with an alert), and
sending what is due."""

from __future__ import annotations

import datetime as dt
import email.utils
import random
import threading
import time
from dataclasses import dataclass

import orjson
import requests
from django.db import transaction
from django.db.models import Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from apps.core import conf, db
from apps.core.alerts import DELIVERY_DEAD, alert_raise
from apps.core.outbound_policy import OutboundAddressRefused, policy_session
from apps.integrations.outbound.models import (
    DeliveryAttempt,
    OutboundDelivery,
    OutboundEndpoint,
)
from apps.integrations.outbound.services.common import (
    RESPONSE_EXCERPT_BYTES,
    USER_AGENT,
    Kind,
    Status,
    logger,
)
from apps.integrations.outbound.services.deliveries import enqueue_send, outcome_notify
from apps.integrations.outbound.services.endpoints import endpoint_disable

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
        db.commit_without_wal_wait()
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
            outcome_notify(delivery)
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
            outcome_notify(delivery)
            return DEAD

        if result.refused:
            _dead(
                delivery,
                now,
                f"{result.error}. Not retried: correct the URL, or allow the host in "
                "AFFILIATEHUB_OUTBOUND_ALLOWED_HOSTS, then resend.",
                fields,
            )
            outcome_notify(delivery)
            return DEAD

        delay = retry_delay(delivery.attempts, result.retry_after)
        if delay is None:
            _dead(
                delivery,
                now,
                f"No success after {delivery.attempts} attempts; last: {what}.",
                fields,
            )
            outcome_notify(delivery)
            outcome = DEAD
        else:
            delivery.status = Status.FAILED
            delivery.next_attempt_at = now + dt.timedelta(seconds=delay)
            delivery.save(update_fields=fields)
            if delay <= conf.seconds("AFFILIATEHUB_OUTBOUND_MAX_COUNTDOWN_SECONDS"):
                delivery_id = delivery.pk
                transaction.on_commit(lambda: enqueue_send(delivery_id, countdown=delay))
            outcome = FAILED
        endpoint_disable_if_failing_too_long(claimed.endpoint_id, now)
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


def endpoint_disable_if_failing_too_long(endpoint_id: int, now: dt.datetime) -> bool:
    limit = conf.duration("AFFILIATEHUB_OUTBOUND_DISABLE_AFTER")
    endpoint = OutboundEndpoint.objects.filter(
        pk=endpoint_id, is_active=True, failing_since__lte=now - limit
    ).first()
    if endpoint is None:
        return False
    return endpoint_disable(
        endpoint=endpoint,
        reason=f"No successful delivery since {endpoint.failing_since:%Y-%m-%d %H:%M} UTC (over "
        f"{limit.days} days).",
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
