"""Where payout requests go is dual-controlled: re-pointing the payment gateway takes a second
person, like a payout destination (issue 16 §2)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.core.models import AuditLog
from apps.integrations.outbound import services as outbound
from apps.integrations.outbound.models import EndpointUrlChange, OutboundEndpoint
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def gateway():
    return outbound.endpoint_create(name="psp", kind="gateway", url="https://psp.example")


def _change_url_in_admin(client, user, endpoint, url):
    client.force_login(user)
    page = reverse("admin:integrations_outboundendpoint_change", args=[endpoint.pk])
    return client.post(page, {"name": endpoint.name, "url": url, "event_types": []}, follow=True)


def test_one_person_cannot_repoint_the_gateway(client, gateway):
    engineer = UserFactory(roles=["Integrations"])
    page = _change_url_in_admin(client, engineer, gateway, "https://attacker.example")
    gateway.refresh_from_db()
    assert gateway.url == "https://psp.example"
    assert b"waits for a second person" in page.content
    change = EndpointUrlChange.objects.get()
    assert (change.url_before, change.url_after, change.status) == (
        "https://psp.example",
        "https://attacker.example",
        "pending",
    )
    with pytest.raises(outbound.OutboundError, match="cannot approve"):
        outbound.endpoint_url_change_approve(change=change, acting_user=engineer)
    with pytest.raises(outbound.OutboundError, match="second person"):
        outbound.endpoint_update(
            endpoint=gateway, url="https://attacker.example", acting_user=engineer
        )
    gateway.refresh_from_db()
    assert gateway.url == "https://psp.example"


def test_a_second_person_approves_and_both_steps_are_audited(client, gateway):
    engineer, finance = UserFactory(roles=["Integrations"]), UserFactory(roles=["Finance"])
    _change_url_in_admin(client, engineer, gateway, "https://psp-v2.example")
    change = EndpointUrlChange.objects.get()
    client.force_login(finance)
    client.post(
        reverse("admin:integrations_endpointurlchange_changelist"),
        {"action": "approve_changes", "_selected_action": [change.pk]},
    )
    gateway.refresh_from_db()
    change.refresh_from_db()
    assert (
        gateway.url == "https://psp-v2.example"
        and change.status == "approved"
        and change.decided_by == finance
    )
    actions = list(
        AuditLog.objects.filter(action__startswith="outbound_endpoint.url_change")
        .order_by("pk")
        .values_list("action", "before", "after")
    )
    assert actions == [
        (
            "outbound_endpoint.url_change_requested",
            {"url": "https://psp.example"},
            {"url": "https://psp-v2.example"},
        ),
        (
            "outbound_endpoint.url_change_approved",
            {"url": "https://psp.example"},
            {"url": "https://psp-v2.example"},
        ),
    ]


def test_the_requester_cannot_decide_even_with_the_permission(client, gateway):
    both = UserFactory(roles=["Integrations", "Finance"])
    _change_url_in_admin(client, both, gateway, "https://psp-v3.example")
    change = EndpointUrlChange.objects.get()
    page = client.post(
        reverse("admin:integrations_endpointurlchange_changelist"),
        {"action": "approve_changes", "_selected_action": [change.pk]},
        follow=True,
    )
    assert b"cannot approve or reject it" in page.content
    gateway.refresh_from_db()
    assert gateway.url == "https://psp.example"


def test_a_stale_request_is_refused(gateway):
    change = outbound.endpoint_url_change_request(
        endpoint=gateway, url="https://a.example", acting_user=UserFactory()
    )
    OutboundEndpoint.objects.filter(pk=gateway.pk).update(url="https://moved-by-deploy.example")
    with pytest.raises(outbound.OutboundError, match="changed since"):
        outbound.endpoint_url_change_approve(change=change, acting_user=UserFactory())


def test_deployment_commands_still_set_the_gateway_url(gateway):
    updated = outbound.endpoint_update(
        endpoint=gateway, url="https://psp-staging.example"
    )  # system, no person
    assert updated.url == "https://psp-staging.example"
