"""Our own gateway request's outcome (accepted / never accepted) against a local HTTP server,
gateway webhooks through the inbound pipeline, and the sweeper's beat schedule."""

from decimal import Decimal

import pytest
from django.test import override_settings
from django_celery_beat.models import PeriodicTask

from apps.integrations.accounts import integration_create
from apps.integrations.inbound.services import (
    inbound_event_process,
    inbound_event_store,
    incoming_event,
    item_hash,
)
from apps.integrations.models import InboundEvent
from apps.integrations.outbound import services as outbound
from apps.integrations.outbound.models import OutboundDelivery
from apps.payouts.models import Payout
from apps.payouts.resources import FxRateResource
from tests.outbound_receiver import Receiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def live_gateway(receiver, gateway):
    gateway.url = receiver.url + "/gw"
    gateway.save()
    return gateway


def _approved(pending_payout, finance_checker):
    from apps.payouts import services

    return services.payout_approve(payout=pending_payout, acting_user=finance_checker)


def test_a_2xx_from_the_gateway_marks_the_payout_submitted(
    receiver, live_gateway, pending_payout, finance_checker
):
    payout = _approved(pending_payout, finance_checker)
    receiver.respond(202, body=b'{"status": "processing"}')
    assert outbound.deliveries_send_due() == {"succeeded": 1}
    [request] = receiver.requests
    assert request.path == "/gw/payouts" and request.headers["idempotency-key"] == payout.reference
    assert Payout.objects.get(pk=payout.pk).status == "submitted"


@override_settings(AFFILIATEHUB_OUTBOUND_RETRY_SCHEDULE=(0, 0, 0), AFFILIATEHUB_OUTBOUND_JITTER=0)
def test_a_gateway_that_never_accepts_fails_the_payout_into_the_queue(
    receiver, live_gateway, pending_payout, finance_checker
):
    payout = _approved(pending_payout, finance_checker)
    receiver.respond(503)
    for _ in range(3):
        outbound.deliveries_send_due()
    delivery = OutboundDelivery.objects.get(topic="payout.request")
    assert delivery.status == "dead" and delivery.attempts == 3
    failed = Payout.objects.get(pk=payout.pk)
    assert failed.status == "failed" and failed.failure_code == "gateway_http_503"
    assert "never accepted" in failed.failure_reason


def test_gateway_webhooks_through_the_pipeline_are_idempotent_and_order_free(approved_payout):
    psp = integration_create(slug="psp", kind="payments", id_system="payments")[0]

    def deliver(event_type, webhook_id, **data):
        envelope = {
            "type": event_type,
            "timestamp": "2026-11-27T10:00:00Z",
            "data": {
                "payout_reference": approved_payout.reference,
                "gateway_reference": "gw-77",
                **data,
            },
        }
        stored = inbound_event_store(
            integration_id=psp.pk,
            source="webhook",
            event=incoming_event(
                integration_kind="payments",
                webhook_id=webhook_id,
                envelope=envelope,
                body_hash=item_hash(envelope),
            ),
        )
        return (
            inbound_event_process(event_id=stored.event_id)
            if stored.outcome == "accepted"
            else stored.outcome
        )

    # The confirmation arrives before our delivery recorded the gateway's 2xx.
    assert deliver("payout.confirmed", "c1") == "processed"
    assert deliver("payout.confirmed", "c1") == "duplicate"  # same webhook id: stored once
    assert (
        deliver("payout.confirmed", "c2") == "processed"
    )  # resent under a new id: no second completion
    assert (
        deliver("payout.failed", "f1", reason_code="late", message="x") == "processed"
    )  # after completion: ignored
    payout = Payout.objects.get(pk=approved_payout.pk)
    assert payout.status == "completed" and payout.gateway_reference == "gw-77"
    assert InboundEvent.objects.filter(status="processed").count() == 3


def _deliver_gateway_event(event_type: str, reference: str, webhook_id: str):
    psp = integration_create(slug=f"psp-{webhook_id}", kind="payments", id_system="payments")[0]
    envelope = {
        "type": event_type,
        "timestamp": "2026-11-27T10:00:00Z",
        "data": {"payout_reference": reference, "gateway_reference": "gw-9"},
    }
    stored = inbound_event_store(
        integration_id=psp.pk,
        source="webhook",
        event=incoming_event(
            integration_kind="payments",
            webhook_id=webhook_id,
            envelope=envelope,
            body_hash=item_hash(envelope),
        ),
    )
    return inbound_event_process(event_id=stored.event_id), InboundEvent.objects.get(
        pk=stored.event_id
    )


def test_a_confirmation_the_hub_cannot_apply_goes_straight_to_the_dead_letters(pending_payout):
    # Not approved (or cancelled, or unknown): money moved for a payout the hub cannot complete.
    outcome, event = _deliver_gateway_event("payout.confirmed", pending_payout.reference, "c-early")
    assert outcome == "dead" and event.attempts == 1  # not retried eight times first
    assert (
        "The gateway confirmed payout" in event.last_error
        and "Check the payment" in event.last_error
    )
    assert Payout.objects.get(pk=pending_payout.pk).status == "pending_approval"

    outcome, event = _deliver_gateway_event("payout.failed", "PO-UNKNOWN", "f-unknown")
    assert outcome == "dead" and "No payout with reference 'PO-UNKNOWN'" in event.last_error


def test_the_sweeper_is_scheduled_by_beat(db):
    task = PeriodicTask.objects.get(name="integrations: sweep outbound deliveries")
    assert (
        task.task == "integrations.sweep_outbound_deliveries"
        and task.interval.every == 10
        and task.enabled
    )


def test_fx_rates_import_from_a_file(db):
    import tablib

    data = tablib.Dataset(headers=["base", "quote", "rate", "source", "as_of"])
    data.append(["EUR", "USD", "1.0850", "ECB", "2026-11-26T16:00:00+00:00"])
    data.append(["EUR", "GBP", "0.8610", "ECB", "2026-11-26T16:00:00+00:00"])
    result = FxRateResource().import_data(data, dry_run=False)
    assert not result.has_errors() and result.totals["new"] == 2
    again = FxRateResource().import_data(data, dry_run=False)
    assert again.totals["new"] == 0
    from apps.payouts.models import FxRate

    assert FxRate.objects.get(quote="USD").rate == Decimal("1.0850")
