"""The sandbox payment gateway: idempotent payout requests, results signed for the hub, and the
whole payout loop end to end over real HTTP."""

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.utils import timezone
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
    return client.post(
        "/sandbox/gateway/payouts", json.dumps(body), content_type="application/json", **headers
    )


@pytest.fixture
def config(db):
    return SandboxGatewayConfig.objects.create(
        pk=1, hub_url="http://hub.test", failure_rate=Decimal(0), settle_seconds=0
    )


def test_a_request_is_accepted_once_per_idempotency_key(
    client, config, django_capture_on_commit_callbacks
):
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
    assert (
        gateway.gateway_payout_settle(payout_id=payout.pk, attempt=1) is None
    )  # superseded attempt
    assert (
        json.loads(gateway.gateway_payout_settle(payout_id=payout.pk, attempt=2).body)["type"]
        == "payout.confirmed"
    )
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
        idempotency_key="PO-1",
        reference="PO-1",
        gateway_reference="gw_1",
        amount=Decimal(10),
        currency="EUR",
    )
    callback = gateway.gateway_payout_settle(payout_id=payout.pk, attempt=1)
    assert callback.url == "http://127.0.0.1:8123/api/v1/webhooks/sandbox-payments/"
    headers = gateway.callback_headers(callback, secret=secret)
    assert Webhook(secret).verify(callback.body, headers)["data"]["gateway_reference"] == "gw_1"


def _gateway_payout(key, *, age_seconds, **fields):
    payout = SandboxGatewayPayout.objects.create(
        idempotency_key=key,
        reference=key,
        gateway_reference=f"gw_{key}",
        amount=Decimal(10),
        currency="EUR",
        **fields,
    )
    SandboxGatewayPayout.objects.filter(pk=payout.pk).update(
        updated_at=timezone.now() - dt.timedelta(seconds=age_seconds)
    )
    return payout


def test_the_sweeper_settles_what_is_overdue_and_re_reports_what_the_hub_did_not_take(config):
    config.settle_seconds = 10
    config.save()
    lost_timer = _gateway_payout("PO-LOST", age_seconds=71)
    _gateway_payout("PO-FRESH", age_seconds=69)  # its own timer may still fire
    refused = _gateway_payout(
        "PO-REFUSED", age_seconds=600, status="paid", callbacks_sent=3, last_callback_status=503
    )
    _gateway_payout(
        "PO-TAKEN", age_seconds=600, status="paid", callbacks_sent=1, last_callback_status=200
    )
    _gateway_payout(
        "PO-GIVEN-UP",
        age_seconds=600,
        status="failed",
        callbacks_sent=gateway.SWEEP_MAX_CALLBACKS,
        last_callback_status=422,
    )
    assert gateway.gateway_payouts_overdue() == [(lost_timer.pk, 1), (refused.pk, 1)]


def test_the_sweep_task_queues_one_settlement_per_overdue_payout(config, monkeypatch):
    from apps.sandbox import gateway_tasks

    overdue = _gateway_payout("PO-LOST", age_seconds=3600)
    queued = []
    monkeypatch.setattr(gateway_tasks.settle_payout, "delay", lambda *a: queued.append(a))
    assert gateway_tasks.sweep_overdue() == 1 and queued == [(overdue.pk, 1)]


def test_setup_is_idempotent_and_follows_the_port(db):
    first = sandbox_gateway_setup(base_url="http://127.0.0.1:8000")
    second = sandbox_gateway_setup(base_url="http://127.0.0.1:9000/")
    assert first.endpoint.pk == second.endpoint.pk
    assert second.endpoint.url == "http://127.0.0.1:9000/sandbox/gateway"
    assert second.integration.secrets.count() == 1


# ---------------------------------------------------------------------------------------------
# The whole loop, over real HTTP (live server), with Celery tasks run synchronously.


@pytest.fixture
def subscriber_receiver():
    from tests.outbound_receiver import Receiver

    server = Receiver().start()
    yield server
    server.stop()


def _loop_setup(live_server, subscriber_receiver, failure_rate):
    from apps.integrations.outbound import services as outbound
    from tests.factories import AffiliateFactory, UserFactory
    from tests.payouts.factories import PayoutMethodFactory, approved_statement, restore_roles

    restore_roles()  # transactional tests flush the groups the data migrations made
    setup = sandbox_gateway_setup(base_url=live_server.url, failure_rate=Decimal(failure_rate))
    subscriber = outbound.endpoint_create(
        name="crm",
        kind="subscriber",
        url=subscriber_receiver.url + "/hooks",
        event_types=["payout.completed", "payout.failed"],
    )
    affiliate = AffiliateFactory(name="Casino Partners Ltd")
    PayoutMethodFactory(affiliate=affiliate)  # the setup made a default one; this one replaces it
    statement = approved_statement(affiliate=affiliate, total="420.00", lines=3)
    maker = UserFactory(username="maker", roles=["Finance"])
    checker = UserFactory(username="checker", roles=["Finance"])
    return setup, subscriber, affiliate, statement, maker, checker


def _admin_run_and_submit(client, maker):
    from django.urls import reverse

    from apps.payouts.models import Payout

    client.force_login(maker)
    client.post(reverse("admin:payouts_payoutrun_add"))
    payout = Payout.objects.get()
    client.post(reverse("admin:payouts_payout_submit", args=[payout.pk]))
    return payout


def _admin_approve(client, checker, payout):
    from django.urls import reverse

    client.force_login(checker)
    url = reverse("admin:payouts_pendingapprovalpayout_changelist")
    confirm = client.post(url, {"action": "approve_payouts", "_selected_action": [payout.pk]})
    assert "420" in confirm.content.decode()
    client.post(url, {"action": "approve_payouts", "_selected_action": [payout.pk], "apply": "1"})


def _gateway_settles(payout_reference):
    """What the gateway's Celery task does after its countdown: decide, post the signed result."""
    from apps.sandbox import gateway_tasks

    gw = SandboxGatewayPayout.objects.get(idempotency_key=payout_reference)
    return gateway_tasks.settle_payout(gw.pk, gw.attempt)


def _process_inbound():
    from apps.integrations.inbound.services import inbound_event_process
    from apps.integrations.models import InboundEvent

    return [
        inbound_event_process(event_id=pk)
        for pk in InboundEvent.objects.filter(status="received")
        .order_by("pk")
        .values_list("pk", flat=True)
    ]


@pytest.mark.django_db(transaction=True)
def test_end_to_end_statement_to_completed_payout(client, live_server, subscriber_receiver):
    from apps.commissions.models import CommissionEntry
    from apps.integrations.outbound import services as outbound
    from apps.payouts.models import Payout

    _, subscriber, affiliate, _, maker, checker = _loop_setup(live_server, subscriber_receiver, 0)
    payout = _admin_run_and_submit(client, maker)
    _admin_approve(client, checker, payout)
    payout.refresh_from_db()
    assert payout.status == "approved" and payout.approved_by == checker

    # The outbound engine sends the request to the sandbox gateway over HTTP: accepted (202).
    assert outbound.deliveries_send_due() == {"succeeded": 1}
    payout.refresh_from_db()
    assert payout.status == "submitted"
    gw = SandboxGatewayPayout.objects.get()
    assert (gw.reference, gw.amount, gw.currency) == (payout.reference, Decimal("420.00"), "EUR")

    # The gateway pays and reports back by signed webhook; the pipeline completes the payout.
    assert _gateway_settles(payout.reference) == 202
    assert _process_inbound() == ["processed"]
    payout.refresh_from_db()
    assert payout.status == "completed" and payout.gateway_reference == gw.gateway_reference
    entries = CommissionEntry.objects.filter(affiliate=affiliate)
    assert entries.count() == 3 and set(entries.values_list("status", flat=True)) == {"paid"}

    # The gateway's retry of the same result is a duplicate: nothing completes twice.
    assert _gateway_settles(payout.reference) == 200
    assert _process_inbound() == []
    assert Payout.objects.get().status == "completed"
    assert gw.__class__.objects.get().payments == 1

    # The subscriber hears payout.completed, signed for it.
    assert outbound.deliveries_send_due() == {"succeeded": 1}
    [request] = subscriber_receiver.requests
    event = Webhook(subscriber.secret).verify(request.body, request.headers)
    assert event["type"] == "payout.completed"
    assert (
        event["data"]["payout_reference"] == payout.reference
        and event["data"]["status"] == "completed"
    )


@pytest.mark.django_db(transaction=True)
def test_end_to_end_failure_then_retry_with_the_same_reference(
    client, live_server, subscriber_receiver
):
    from django.urls import reverse

    from apps.integrations.outbound import services as outbound
    from apps.integrations.outbound.models import OutboundDelivery

    *_, maker, checker = _loop_setup(live_server, subscriber_receiver, 1)
    payout = _admin_run_and_submit(client, maker)
    _admin_approve(client, checker, payout)
    outbound.deliveries_send_due()
    _gateway_settles(payout.reference)
    assert _process_inbound() == ["processed"]
    payout.refresh_from_db()
    assert payout.status == "failed" and payout.failure_code and payout.failure_reason

    # Finance sees it in the failed queue and retries it; the gateway pays this time.
    SandboxGatewayConfig.objects.filter(pk=1).update(failure_rate=Decimal(0))
    failed_page = client.get(reverse("admin:payouts_failedpayout_changelist")).content.decode()
    assert payout.reference in failed_page
    client.post(reverse("admin:payouts_payout_retry", args=[payout.pk]))
    assert outbound.deliveries_send_due() == {
        "succeeded": 2
    }  # the request, and payout.failed to the subscriber
    _gateway_settles(payout.reference)
    assert _process_inbound() == ["processed"]
    payout.refresh_from_db()
    assert payout.status == "completed"
    requests_sent = OutboundDelivery.objects.filter(topic="payout.request").order_by("pk")
    assert [d.headers["Idempotency-Key"] for d in requests_sent] == [
        payout.reference,
        payout.reference,
    ]
    gw = SandboxGatewayPayout.objects.get()
    assert (gw.attempt, gw.requests, gw.payments) == (2, 2, 1)


def test_failure_reasons_are_configurable(client, config):
    config.failure_rate = Decimal(1)
    config.failure_reasons = [["kyc_missing", "Beneficiary KYC incomplete."]]
    config.save()
    _post(client)
    payout = SandboxGatewayPayout.objects.get()
    data = json.loads(gateway.gateway_payout_settle(payout_id=payout.pk, attempt=1).body)["data"]
    assert (data["reason_code"], data["message"]) == ("kyc_missing", "Beneficiary KYC incomplete.")


def test_gateway_admin_pages(client, config):
    from tests.factories import UserFactory

    client.force_login(UserFactory(username="root", is_superuser=True))
    _post(client)
    assert client.get("/admin/sandbox/sandboxgatewaypayout/").status_code == 200
    assert client.get(f"/admin/sandbox/sandboxgatewayconfig/{config.pk}/change/").status_code == 200
