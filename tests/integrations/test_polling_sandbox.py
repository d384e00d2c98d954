"""The sandbox CRM and trading platform's poll endpoints, polled by the real connectors through a
live server: dropped webhooks are recovered, delivered ones only counted."""

import datetime as dt

import pytest
from django.core.management import call_command
from django.utils import timezone

from apps.integrations.inbound import services
from apps.integrations.models import EventSource, InboundEvent, Integration
from apps.integrations.polling.services import integration_poll
from apps.sandbox.models import SandboxEndpoint, SandboxSentEvent
from apps.sandbox.world import CRM, MT5_SERVER, TRADING

pytestmark = pytest.mark.django_db(transaction=True)


def _sent(slug, webhook_id, envelope, *, dropped):
    SandboxSentEvent.objects.create(
        integration_slug=slug,
        webhook_id=webhook_id,
        event_type=envelope["type"],
        payload=envelope,
        occurred_at=dt.datetime.fromisoformat(envelope["timestamp"]),
        dropped=dropped,
    )
    if not dropped:  # what the hub's webhook endpoint stored when it was delivered
        integration = Integration.objects.get(slug=slug)
        event = services.incoming_event(
            integration_kind=integration.kind,
            webhook_id=webhook_id,
            envelope=envelope,
            body_hash=services.item_hash(envelope),
        )
        services.inbound_event_store(
            integration_id=integration.pk, event=event, source=EventSource.WEBHOOK
        )


def _trade(deal: int, at: dt.datetime, entry="out") -> dict:
    data = {
        "platform": "mt5",
        "server": MT5_SERVER,
        "login": "800123",
        "deal_id": str(deal),
        "position_id": "POS-1",
        "symbol": "EURUSD",
        "volume_lots": "0.25",
        "entry": entry,
        "profit": "-3.10",
        "currency": "USD",
        "closed_at": at.isoformat().replace("+00:00", "Z"),
        "price": "1.08512",
        "swap": "-0.40",
        "commission": "-0.88",
    }
    return {"type": "trade.closed", "timestamp": data["closed_at"], "data": data}


def test_sandbox_poll_endpoints_let_reconciliation_recover_dropped_webhooks(live_server):
    call_command("sandbox_poll_setup", "--base-url", live_server.url)
    now = timezone.now().replace(microsecond=0)
    for i in range(6):
        envelope = {
            "type": "deposit.created",
            "timestamp": (now - dt.timedelta(minutes=30 - i)).isoformat(),
            "data": {
                "deposit_id": f"D-{i}",
                "player_id": "C-1",
                "amount": "10.00",
                "currency": "EUR",
            },
        }
        _sent(CRM, f"msg_crm_{i}", envelope, dropped=i in (2, 5))
    for i in range(5):
        _sent(
            TRADING,
            f"mt5:{MT5_SERVER}:{9000 + i}",
            _trade(9000 + i, now - dt.timedelta(minutes=20 - i)),
            dropped=i == 4,
        )

    crm = integration_poll(integration_id=Integration.objects.get(slug=CRM).pk, trigger="manual")
    assert crm.status == "succeeded", crm.error
    assert (crm.polled, crm.already_received, crm.recovered, crm.failed) == (6, 4, 2, 0)
    assert set(
        InboundEvent.objects.filter(recovery__run=crm).values_list("webhook_id", flat=True)
    ) == {"msg_crm_2", "msg_crm_5"}

    trading = integration_poll(
        integration_id=Integration.objects.get(slug=TRADING).pk, trigger="manual"
    )
    assert trading.status == "succeeded", trading.error
    assert (trading.polled, trading.already_received, trading.recovered, trading.failed) == (
        5,
        4,
        1,
        0,
    )
    recovered = InboundEvent.objects.get(recovery__run=trading)
    assert recovered.webhook_id == f"mt5:{MT5_SERVER}:9004"
    data = recovered.payload["data"]
    assert (data["volume_lots"], data["entry"], data["profit"], data["swap"], data["price"]) == (
        "0.25",
        "out",
        "-3.1",
        "-0.4",
        "1.08512",
    )


def test_sandbox_poll_endpoint_needs_its_token(client, live_server):
    call_command("sandbox_poll_setup", "--base-url", live_server.url)
    assert (
        client.get(
            f"/sandbox/poll/{CRM}/",
            {"since": "2026-01-01T00:00:00Z", "until": "2026-01-02T00:00:00Z"},
        ).status_code
        == 401
    )
    assert SandboxEndpoint.objects.filter(slug=CRM).exists()
    assert client.get("/sandbox/poll/nope/").status_code == 404
