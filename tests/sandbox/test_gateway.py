"""The sandbox payment gateway: idempotent payout requests, results signed for the hub, and the
whole payout loop end to end over real HTTP."""

import json
from decimal import Decimal

import pytest
from standardwebhooks.webhooks import Webhook

from apps.sandbox import gateway
from apps.sandbox.gateway_models import SandboxGatewayConfig, SandboxGatewayPayout
from apps.sandbox.gateway_setup import sandbox_gateway_setup
from apps.sandbox.models import SandboxEndpoint

pytestmark = pytest.mark.django_db

BODY = {
    "reference": "PO-202611-ABC",
    "amount": "120.00",
    "currency": "EUR",
    "method": {"kind": "skrill", "currency": "EUR", "email": "a@wallet.example"},
}


def _post(client, body=BODY, key="PO-202611-ABC"):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post("/sandbox/gateway/payouts", json.dumps(body), content_type="application/json", **headers)


@pytest.fixture
def config(db):
    return SandboxGatewayConfig.objects.create(pk=1, hub_url="http://hub.test", failure_rate=Decimal(0), settle_seconds=0)


def test_a_request_is_accepted_once_per_idempotency_key(client, config, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        first = _post(client)
    assert first.status_code == 202 and first.json()["status"] == "processing"
    assert len(callbacks) == 1  # the settle task is scheduled after commit
    with django_capture_on_commit_callbacks() as callbacks:
        again = _post(client)
    assert again.status_code == 200 and callbacks == []
    assert again.json()["gateway_reference"] == first.json()["gateway_reference"]
    payout = SandboxGatewayPayout.objects.get()
    assert payout.requests == 2 and payout.attempt == 1


def test_the_same_key_never_pays_twice(client, config):
    _post(client)
    payout = SandboxGatewayPayout.objects.get()
    first = gateway.gateway_payout_settle(payout_id=payout.pk, attempt=1)
    second = gateway.gateway_payout_settle(payout_id=payout.pk, attempt=1)
    assert first == second  # a retried task re-sends the same webhook, deciding nothing new
    assert _post(client).json()["status"] == "paid"
    payout.refresh_from_db()
    assert payout.payments == 1 and payout.status == "paid"
    assert json.loads(first.body)["type"] == "payout.confirmed"


def test_a_failed_payment_may_be_tried_again_under_the_same_key(client, config):
    config.failure_rate = Decimal(1)
    config.save()
    _post(client)
    payout = SandboxGatewayPayout.objects.get()
    callback = gateway.gateway_payout_settle(payout_id=payout.pk, attempt=1)
    envelope = json.loads(callback.body)
    assert envelope["type"] == "payout.failed"
    assert envelope["data"]["reason_code"] in {code for code, _ in gateway.FAILURE_REASONS}
    assert envelope["data"]["payout_reference"] == "PO-202611-ABC"

    retried = _post(client)
    assert retried.status_code == 202 and retried.json()["attempt"] == 2
    config.failure_rate = Decimal(0)
    config.save()
    assert gateway.gateway_payout_settle(payout_id=payout.pk, attempt=1) is None  # superseded attempt
    assert json.loads(gateway.gateway_payout_settle(payout_id=payout.pk, attempt=2).body)["type"] == "payout.confirmed"
    payout.refresh_from_db()
    assert payout.payments == 1


def test_a_key_reused_for_another_payout_is_a_conflict(client, config):
    _post(client)
    assert _post(client, {**BODY, "amount": "999.00"}).status_code == 409


@pytest.mark.parametrize(
    ("body", "key", "field"),
    [
        (BODY, "", "Idempotency-Key"),
        ({**BODY, "amount": "-1"}, "k", "amount"),
        ({**BODY, "amount": 12.5}, "k", "amount"),
        ({**BODY, "currency": "eur"}, "k", "currency"),
        ({**BODY, "method": {"kind": "usdt"}}, "k", "method"),
    ],
)
def test_invalid_requests_are_refused(client, config, body, key, field):
    response = _post(client, body, key)
    assert response.status_code == 422 and field in response.json()["errors"]
    assert not SandboxGatewayPayout.objects.exists()


def test_results_are_signed_with_the_payments_integration_secret(config):
    setup = sandbox_gateway_setup(base_url="http://127.0.0.1:8123", failure_rate=Decimal(0))
    secret = setup.integration.secrets.get().secret
    assert SandboxEndpoint.objects.get(slug="sandbox-payments").secret == secret
    payout = SandboxGatewayPayout.objects.create(
        idempotency_key="PO-1", reference="PO-1", gateway_reference="gw_1", amount=Decimal(10), currency="EUR"
    )
    callback = gateway.gateway_payout_settle(payout_id=payout.pk, attempt=1)
    assert callback.url == "http://127.0.0.1:8123/api/v1/webhooks/sandbox-payments/"
    headers = gateway.callback_headers(callback, secret=secret)
    assert Webhook(secret).verify(callback.body, headers)["data"]["gateway_reference"] == "gw_1"


def test_setup_is_idempotent_and_follows_the_port(db):
    first = sandbox_gateway_setup(base_url="http://127.0.0.1:8000")
    second = sandbox_gateway_setup(base_url="http://127.0.0.1:9000/")
    assert first.endpoint.pk == second.endpoint.pk
    assert second.endpoint.url == "http://127.0.0.1:9000/sandbox/gateway"
    assert second.integration.secrets.count() == 1
