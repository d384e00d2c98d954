"""Admin of outbound deliveries: endpoints with health, deliveries with attempts, resend, alerts."""

import pytest
from django.urls import reverse

from apps.integrations.outbound import services as outbound
from apps.integrations.outbound.models import OutboundDelivery, OutboundEndpoint
from apps.monitoring.models import Alert
from tests.factories import UserFactory
from tests.outbound_receiver import Receiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(username="root", is_superuser=True))
    return client


def test_endpoint_list_shows_health(admin_client, receiver):
    endpoint = outbound.endpoint_create(
        name="crm", kind="subscriber", url=receiver.url, event_types=["payout.completed"]
    )
    receiver.respond(500).respond(200)
    for key in ("a", "b"):
        outbound.subscriber_event_publish("payout.completed", {"k": key}, idempotency_key=key)
    outbound.deliveries_send_due()
    page = admin_client.get(
        reverse("admin:integrations_outboundendpoint_changelist")
    ).content.decode()
    assert "50% of 2" in page
    detail = admin_client.get(
        reverse("admin:integrations_outboundendpoint_change", args=[endpoint.pk])
    ).content.decode()
    assert "1 of 2 attempts succeeded" in detail


def test_adding_a_subscriber_shows_its_secret_once(admin_client):
    response = admin_client.post(
        reverse("admin:integrations_outboundendpoint_add"),
        {
            "name": "bi",
            "kind": "subscriber",
            "url": "https://bi.example/hooks",
            "event_types": ["player.attributed"],
        },
        follow=True,
    )
    endpoint = OutboundEndpoint.objects.get(name="bi")
    assert endpoint.secret.startswith("whsec_") and endpoint.event_types == ["player.attributed"]
    assert endpoint.secret in response.content.decode()


def test_deliveries_filter_show_attempts_and_resend(admin_client, receiver):
    endpoint = outbound.endpoint_create(
        name="crm", kind="subscriber", url=receiver.url, event_types=["payout.failed"]
    )
    receiver.respond(410)
    [delivery] = outbound.subscriber_event_publish("payout.failed", {"k": 1}, idempotency_key="k")
    outbound.deliveries_send_due()
    listing = admin_client.get(
        reverse("admin:integrations_outbounddelivery_changelist") + "?status__exact=dead"
    )
    assert listing.status_code == 200 and "payout.failed" in listing.content.decode()
    dead = admin_client.get(reverse("admin:integrations_deaddelivery_changelist")).content.decode()
    assert str(delivery.pk) in dead
    detail = admin_client.get(
        reverse("admin:integrations_outbounddelivery_change", args=[delivery.pk])
    ).content.decode()
    assert "410" in detail
    assert Alert.objects.filter(endpoint=endpoint).count() == 2

    admin_client.post(
        reverse("admin:integrations_outboundendpoint_changelist"),
        {"action": "enable_endpoints", "_selected_action": [endpoint.pk]},
    )
    receiver.respond(200)
    admin_client.post(
        reverse("admin:integrations_outbounddelivery_changelist"),
        {"action": "resend", "_selected_action": [delivery.pk]},
    )
    assert OutboundDelivery.objects.get(pk=delivery.pk).status == "pending"
    outbound.deliveries_send_due()
    assert OutboundDelivery.objects.get(pk=delivery.pk).status == "succeeded"

    admin_client.post(
        reverse("admin:monitoring_alert_changelist"),
        {
            "action": "acknowledge",
            "_selected_action": list(Alert.objects.values_list("pk", flat=True)),
        },
    )
    assert not Alert.objects.filter(acknowledged_at__isnull=True).exists()
    # The one alert list shows them; an acknowledged event alert is closed.
    assert not Alert.objects.filter(resolved_at__isnull=True).exists()


def test_a_gateway_request_page_masks_where_the_money_goes(client):
    endpoint = outbound.endpoint_create(name="psp", kind="gateway", url="https://psp.example")
    delivery, _ = outbound.delivery_enqueue(
        endpoint=endpoint,
        event_type="payout.request",
        topic="payout.request",
        subject="PO-1",
        url="https://psp.example/payouts",
        idempotency_key="payout-request:PO-1:1",
        headers={"Idempotency-Key": "PO-1"},
        payload={
            "reference": "PO-1",
            "amount": "100.00",
            "currency": "EUR",
            "method": {"kind": "bank_wire", "iban": "DE89370400440532013000", "holder": "Jane Doe"},
            "beneficiary": {"affiliate_id": 7, "name": "Acme Media"},
        },
    )
    client.force_login(UserFactory(roles=["Integrations"]))
    page = client.get(
        reverse("admin:integrations_outbounddelivery_change", args=[delivery.pk])
    ).content.decode()
    assert (
        "DE89370400440532013000" not in page and "Jane Doe" not in page and "Acme Media" not in page
    )
    assert "DE••••00" in page and "bank_wire" in page and "PO-1" in page


def test_enabling_or_disabling_an_endpoint_needs_the_change_permission(client):
    endpoint = outbound.endpoint_create(name="psp2", kind="gateway", url="https://psp2.example")
    viewer = UserFactory(username="viewer-only")
    from django.contrib.auth.models import Permission

    viewer.user_permissions.add(Permission.objects.get(codename="view_outboundendpoint"))
    client.force_login(viewer)
    client.post(
        reverse("admin:integrations_outboundendpoint_changelist"),
        {"action": "disable_endpoints", "_selected_action": [endpoint.pk]},
    )
    endpoint.refresh_from_db()
    assert endpoint.is_active


def test_a_gateway_request_page_leads_back_to_its_payout(admin_client):
    endpoint = outbound.endpoint_create(name="psp", kind="gateway", url="https://psp.example")
    delivery, _ = outbound.delivery_enqueue(
        endpoint=endpoint,
        event_type="payout.request",
        topic="payout.request",
        subject="PO-7",
        url="https://psp.example/payouts",
        idempotency_key="payout-request:PO-7:1",
        headers={},
        payload={"reference": "PO-7", "amount": "10.00", "currency": "EUR"},
    )
    page = admin_client.get(
        reverse("admin:integrations_outbounddelivery_change", args=[delivery.pk])
    ).content.decode()
    assert '/admin/payouts/payout/?reference=PO-7">Payout PO-7</a>' in page
