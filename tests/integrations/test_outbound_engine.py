"""The outbound delivery engine against a real local HTTP server: signing, the §6 retry
schedule, Retry-After, 410, timeouts, the 5-day rule, the sweeper and resending."""

import datetime as dt
import json

import pytest
from django.db import connections
from django.test import override_settings
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from apps.core import conf
from apps.integrations.outbound import services as outbound
from apps.integrations.outbound.models import (
    DeliveryAttempt,
    OutboundDelivery,
    OutboundEndpoint,
)
from apps.integrations.outbound.services import deliveries
from apps.monitoring.models import Alert
from tests.factories import UserFactory
from tests.outbound_receiver import Receiver

pytestmark = pytest.mark.django_db
SCHEDULE = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def subscriber(receiver):
    return outbound.endpoint_create(
        name="crm-subscriber",
        kind="subscriber",
        url=receiver.url + "/hooks",
        event_types=["payout.completed", "player.attributed"],
    )


def _publish(key="payout.completed:PO-1"):
    return outbound.subscriber_event_publish(
        "payout.completed",
        {"payout_reference": "PO-1", "amount": "10.00", "currency": "EUR"},
        idempotency_key=key,
    )


def _make_due(delivery):
    OutboundDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())


def test_subscriber_delivery_is_signed_the_standard_webhooks_way(receiver, subscriber):
    [delivery] = _publish()
    assert outbound.delivery_send(delivery_id=delivery.pk) == outbound.SUCCEEDED

    [request] = receiver.requests
    assert request.path == "/hooks"
    payload = Webhook(subscriber.secret).verify(
        request.body, request.headers
    )  # raises on a bad signature
    assert payload["type"] == "payout.completed"
    assert payload["data"] == {"payout_reference": "PO-1", "amount": "10.00", "currency": "EUR"}
    assert request.headers["webhook-id"] == delivery.message_id
    delivery.refresh_from_db()
    assert (
        delivery.status == "succeeded"
        and delivery.attempts == 1
        and delivery.last_response_code == 200
    )
    attempt = DeliveryAttempt.objects.get(delivery=delivery)
    assert attempt.response_code == 200 and attempt.response_body == '{"ok": true}'


def test_webhook_id_is_stable_across_retries_and_each_attempt_is_signed(receiver, subscriber):
    receiver.respond(500).respond(200)
    [delivery] = _publish()
    assert outbound.delivery_send(delivery_id=delivery.pk) == outbound.FAILED
    _make_due(delivery)
    assert outbound.delivery_send(delivery_id=delivery.pk) == outbound.SUCCEEDED
    first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == delivery.message_id
    for request in (first, second):
        Webhook(subscriber.secret).verify(request.body, request.headers)
    assert [a.response_code for a in DeliveryAttempt.objects.filter(delivery=delivery)] == [
        500,
        200,
    ]


def test_publishing_is_idempotent_and_reaches_only_active_subscribers_of_the_type(
    receiver, subscriber
):
    outbound.endpoint_create(
        name="other", kind="subscriber", url=receiver.url, event_types=["statement.approved"]
    )
    disabled = outbound.endpoint_create(
        name="off", kind="subscriber", url=receiver.url, event_types=["payout.completed"]
    )
    outbound.endpoint_disable(endpoint=disabled, reason="test")
    assert len(_publish()) == 1
    assert len(_publish()) == 1
    assert OutboundDelivery.objects.count() == 1


def test_the_retry_schedule_then_dead_letter_and_alert(receiver, subscriber, caplog):
    receiver.respond(500)
    [delivery] = _publish()
    delays = []
    for _ in SCHEDULE:
        before = timezone.now()
        outcome = outbound.delivery_send(delivery_id=delivery.pk)
        delivery.refresh_from_db()
        if outcome == outbound.DEAD:
            break
        assert outcome == outbound.FAILED and delivery.status == "failed"
        delays.append((delivery.next_attempt_at - before).total_seconds())
        _make_due(delivery)
    # After attempt n the wait is schedule[n] (+/- 10 % jitter): 5 s, 5 min, 30 min, 2 h, 5 h, 10 h,
    # 10 h.
    assert len(delays) == 7
    for delay, expected in zip(delays, SCHEDULE[1:], strict=True):
        assert expected * 0.9 - 1 <= delay <= expected * 1.1 + 1, (delay, expected)
    assert delivery.status == "dead" and delivery.attempts == 8 and delivery.dead_at is not None
    assert len(receiver.requests) == 8
    alert = Alert.objects.get(kind="delivery_dead")
    assert alert.delivery == delivery and "8 attempts" in alert.message
    assert any(r.levelname == "ERROR" and "dead" in r.getMessage() for r in caplog.records)


def test_jitter_spreads_retries():
    delays = {round(outbound.retry_delay(2), 3) for _ in range(20)}
    assert len(delays) > 1 and all(270 <= d <= 330 for d in delays)


@pytest.mark.parametrize("retry_after", ["120", "date"])
def test_retry_after_is_honoured(receiver, subscriber, retry_after):
    value = "120"
    if retry_after == "date":
        from email.utils import format_datetime

        value = format_datetime(timezone.now() + dt.timedelta(seconds=125), usegmt=True)
    receiver.respond(503, headers={"Retry-After": value})
    [delivery] = _publish()
    before = timezone.now()
    assert outbound.delivery_send(delivery_id=delivery.pk) == outbound.FAILED
    delivery.refresh_from_db()
    wait = (delivery.next_attempt_at - before).total_seconds()
    assert 110 <= wait <= 140  # the schedule alone would say 5 s
    assert DeliveryAttempt.objects.get(delivery=delivery).retry_after_seconds >= 110


def test_410_disables_the_endpoint_and_pauses_its_other_deliveries(receiver, subscriber):
    receiver.respond(410)
    [gone] = _publish("k1")
    [waiting] = _publish("k2")
    assert outbound.delivery_send(delivery_id=gone.pk) == outbound.DEAD
    subscriber.refresh_from_db()
    assert not subscriber.is_active and "410" in subscriber.disabled_reason
    assert Alert.objects.filter(kind="endpoint_disabled", endpoint=subscriber).exists()
    assert Alert.objects.filter(kind="delivery_dead", delivery=gone).exists()
    assert outbound.delivery_send(delivery_id=waiting.pk) == outbound.PAUSED
    assert len(receiver.requests) == 1

    receiver.respond(200)
    outbound.endpoint_enable(endpoint=subscriber, acting_user=UserFactory())
    assert outbound.delivery_send(delivery_id=waiting.pk) == outbound.SUCCEEDED


@pytest.mark.parametrize("status", [201, 204, 299])
def test_any_2xx_is_success(receiver, subscriber, status):
    receiver.respond(status, body=b"")
    [delivery] = _publish()
    assert outbound.delivery_send(delivery_id=delivery.pk) == outbound.SUCCEEDED


@pytest.mark.parametrize("status", [301, 302, 400, 404, 429, 500, 502])
def test_anything_else_is_retried(receiver, subscriber, status):
    receiver.respond(status, headers={"Location": "http://127.0.0.1:9/"} if status < 400 else {})
    [delivery] = _publish()
    assert outbound.delivery_send(delivery_id=delivery.pk) == outbound.FAILED
    assert len(receiver.requests) == 1  # redirects are not followed


def test_timeout_is_an_attempt_with_its_error(receiver, subscriber):
    receiver.respond(200, delay=1.5)
    [delivery] = _publish()
    with override_settings(AFFILIATEHUB_OUTBOUND_TIMEOUT_SECONDS=0.3):
        assert outbound.delivery_send(delivery_id=delivery.pk) == outbound.FAILED
    attempt = DeliveryAttempt.objects.get(delivery=delivery)
    assert attempt.response_code is None and "Timeout" in attempt.error
    assert attempt.duration_ms >= 250


def test_default_timeout_is_15_seconds():
    assert conf.get("AFFILIATEHUB_OUTBOUND_TIMEOUT_SECONDS") == 15


def test_connection_refused_is_retried(subscriber):
    OutboundEndpoint.objects.filter(pk=subscriber.pk).update(url="http://127.0.0.1:9/")
    [delivery] = _publish()
    OutboundDelivery.objects.filter(pk=delivery.pk).update(url="http://127.0.0.1:9/")
    assert outbound.delivery_send(delivery_id=delivery.pk) == outbound.FAILED
    assert "ConnectionError" in DeliveryAttempt.objects.get(delivery=delivery).error


def test_an_endpoint_failing_for_five_days_is_disabled(receiver, subscriber):
    receiver.respond(500)
    OutboundEndpoint.objects.filter(pk=subscriber.pk).update(
        failing_since=timezone.now() - dt.timedelta(days=5, minutes=1)
    )
    [delivery] = _publish()
    assert outbound.delivery_send(delivery_id=delivery.pk) == outbound.FAILED
    subscriber.refresh_from_db()
    assert not subscriber.is_active and "over 5 days" in subscriber.disabled_reason
    assert Alert.objects.filter(kind="endpoint_disabled").count() == 1


def test_the_sweeper_disables_long_failing_endpoints_without_traffic(subscriber):
    OutboundEndpoint.objects.filter(pk=subscriber.pk).update(
        failing_since=timezone.now() - dt.timedelta(days=6)
    )
    assert outbound.deliveries_sweep().endpoints_disabled == 1


def test_success_clears_failing_since(receiver, subscriber):
    receiver.respond(500).respond(200)
    [delivery] = _publish()
    outbound.delivery_send(delivery_id=delivery.pk)
    subscriber.refresh_from_db()
    assert subscriber.failing_since is not None
    _make_due(delivery)
    outbound.delivery_send(delivery_id=delivery.pk)
    subscriber.refresh_from_db()
    assert subscriber.failing_since is None and subscriber.last_success_at is not None


def test_a_delivery_not_due_or_done_is_skipped(receiver, subscriber):
    [delivery] = _publish()
    OutboundDelivery.objects.filter(pk=delivery.pk).update(
        status="failed", next_attempt_at=timezone.now() + dt.timedelta(hours=1)
    )
    assert outbound.delivery_send(delivery_id=delivery.pk) == outbound.SKIPPED
    OutboundDelivery.objects.filter(pk=delivery.pk).update(status="succeeded")
    assert outbound.delivery_send(delivery_id=delivery.pk) == outbound.SKIPPED
    assert receiver.requests == []


def test_sweeper_requeues_due_retries_and_reclaims_lost_workers(subscriber, monkeypatch):
    sent = []
    # The sweeper enqueues through the deliveries module's enqueue_send.
    monkeypatch.setattr(
        deliveries, "enqueue_send", lambda delivery_id, countdown=None: sent.append(delivery_id)
    )
    [due] = _publish("a")
    [lost] = _publish("b")
    [fresh] = _publish("c")
    now = timezone.now()
    OutboundDelivery.objects.filter(pk=due.pk).update(
        status="failed", next_attempt_at=now - dt.timedelta(seconds=1)
    )
    OutboundDelivery.objects.filter(pk=lost.pk).update(
        status="delivering", claimed_at=now - dt.timedelta(minutes=5)
    )
    with django_capture_on_commit() as callbacks:
        result = outbound.deliveries_sweep()
    for callback in callbacks:
        callback()
    assert (result.requeued, result.reclaimed) == (2, 1)
    assert sorted(sent) == sorted([due.pk, lost.pk])
    lost.refresh_from_db()
    assert lost.status == "failed" and "lost" in lost.last_error
    fresh.refresh_from_db()
    assert fresh.status == "pending"


def django_capture_on_commit():
    from django.test import TestCase

    return TestCase.captureOnCommitCallbacks(execute=False)


def test_resend_starts_the_schedule_again(receiver, subscriber):
    receiver.respond(410)
    [delivery] = _publish()
    outbound.delivery_send(delivery_id=delivery.pk)
    outbound.endpoint_enable(endpoint=subscriber)
    receiver.respond(200)
    outbound.delivery_resend(delivery=delivery, acting_user=UserFactory())
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.attempts == 0
    assert outbound.delivery_send(delivery_id=delivery.pk) == outbound.SUCCEEDED
    assert list(
        DeliveryAttempt.objects.filter(delivery=delivery).values_list("number", flat=True)
    ) == [1, 2]


def test_enqueue_is_idempotent_on_the_key(subscriber):
    first, created = outbound.delivery_enqueue(
        endpoint=subscriber, event_type="x", payload={}, idempotency_key="same"
    )
    second, created_again = outbound.delivery_enqueue(
        endpoint=subscriber, event_type="x", payload={"other": 1}, idempotency_key="same"
    )
    assert created and not created_again and first.pk == second.pk


@pytest.mark.django_db(transaction=True)
def test_http_happens_outside_any_transaction(receiver):
    """While the receiver is handling the request, another connection already sees the row
    claimed (`delivering`): the claim committed before the HTTP call started."""
    endpoint = outbound.endpoint_create(
        name="tx-check", kind="subscriber", url=receiver.url, event_types=["payout.completed"]
    )
    [delivery] = outbound.subscriber_event_publish(
        "payout.completed", {"x": "1"}, idempotency_key="tx"
    )
    seen = []

    def look(_request):
        seen.append(OutboundDelivery.objects.values_list("status", flat=True).get(pk=delivery.pk))
        connections.close_all()

    receiver.on_request = look
    assert outbound.delivery_send(delivery_id=delivery.pk) == outbound.SUCCEEDED
    assert seen == ["delivering"]
    assert endpoint.pk


def test_gateway_requests_carry_the_idempotency_key_and_no_signature(receiver):
    gateway = outbound.endpoint_create(name="gw", kind="gateway", url=receiver.url + "/gateway")
    delivery, _ = outbound.delivery_enqueue(
        endpoint=gateway,
        event_type="payout.request",
        payload={"reference": "PO-1"},
        idempotency_key="payout-request:PO-1:1",
        url=gateway.url + "/payouts",
        headers={"Idempotency-Key": "PO-1"},
    )
    outbound.delivery_send(delivery_id=delivery.pk)
    [request] = receiver.requests
    assert request.path == "/gateway/payouts"
    assert request.headers["idempotency-key"] == "PO-1"
    assert "webhook-signature" not in request.headers
    assert json.loads(request.body) == {"reference": "PO-1"}
