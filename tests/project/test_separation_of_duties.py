"""Separation of duties, cell by cell (README "Separation of duties"; issue 16 §2).

Each row is one act that decides who sees where money goes or who may change where money or
data goes. Every role tries every act as a user holding nothing but that role's group, as the
migrations leave it: the roles listed may, the others are refused (a 403 page or a refused
action), and a refusal changes nothing.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from apps.affiliates.postbacks import PostbackTemplate
from apps.core.services import apikey_create
from apps.integrations.outbound import services as outbound
from apps.integrations.outbound.models import EndpointUrlChange, OutboundDelivery, OutboundEndpoint
from apps.payouts import method_changes, services
from apps.payouts.models import PayoutMethodChange
from apps.risk.models import RiskCase, RiskRule
from tests.factories import AffiliateFactory, UserFactory
from tests.payouts.factories import GatewayEndpointFactory, PayoutMethodFactory, approved_statement

pytestmark = pytest.mark.django_db

ROLES = ("Finance", "Retention", "Compliance", "Integrations")
EMAIL = "payee@wallet.example"


@pytest.fixture
def world(db):
    """A pending payout to a Skrill wallet, its gateway request, a subscriber endpoint and a
    gateway URL change requested by an Integrations engineer."""
    affiliate = AffiliateFactory()
    method = PayoutMethodFactory(affiliate=affiliate, details={"email": EMAIL})
    gateway = GatewayEndpointFactory()
    maker, checker = UserFactory(roles=["Finance"]), UserFactory(roles=["Finance"])
    approved_statement(affiliate=affiliate, total=Decimal("120.00"))
    payout = services.payout_run_create().payouts.get()
    services.payout_submit_for_approval(payout=payout, acting_user=maker)
    approved_statement(affiliate=affiliate, total=Decimal("40.00"))
    paid = services.payout_run_create().payouts.get()
    services.payout_submit_for_approval(payout=paid, acting_user=maker)
    services.payout_approve(payout=paid, acting_user=checker)
    subscriber = outbound.endpoint_create(
        name="crm",
        kind="subscriber",
        url="https://crm.example/hooks",
        event_types=["player.attributed"],
    )
    # Another affiliate's destination change waits for approval (one of this affiliate's own
    # would block approving its payout).
    other_method = PayoutMethodFactory(affiliate=AffiliateFactory())
    method_change = method_changes.payout_method_change_request(
        affiliate=other_method.affiliate,
        action=PayoutMethodChange.Action.UPDATE,
        method=other_method,
        values={"details": {"email": "new@wallet.example"}},
        acting_user=maker,
    )
    return {
        "payout": payout,
        "method": method,
        "gateway": gateway,
        "subscriber": subscriber,
        "delivery": OutboundDelivery.objects.get(topic="payout.request", subject=paid.reference),
        "method_change": method_change,
        "affiliate": affiliate,
        "api_key": apikey_create(name="crm", scopes=["players:read"]).api_key,
        "risk_case": RiskCase.objects.create(affiliate=AffiliateFactory(), score=40),
    }


def _get(client, name, *args):
    return client.get(reverse(name, args=args))


def see_payout_masked(client, w):
    page = _get(client, "admin:payouts_payout_change", w["payout"].pk)
    if page.status_code == 200:
        assert EMAIL not in page.content.decode()  # masked outside the approval page
    return page.status_code == 200


def see_destination_in_full(client, w):
    page = _get(client, "admin:payouts_payout_approve", w["payout"].pk)
    return page.status_code == 200 and EMAIL in page.content.decode()


def see_gateway_request_masked(client, w):
    page = _get(client, "admin:integrations_outbounddelivery_change", w["delivery"].pk)
    if page.status_code == 200:
        assert EMAIL not in page.content.decode()  # never in full, for any role
    return page.status_code == 200


def approve_payout(client, w):
    client.post(reverse("admin:payouts_payout_approve", args=[w["payout"].pk]), {"confirm": "1"})
    w["payout"].refresh_from_db()
    return w["payout"].status == "approved"


def request_destination_change(client, w):
    before = PayoutMethodChange.objects.count()
    client.post(
        reverse("admin:payouts_payoutmethod_changelist"),
        {"action": "request_deactivation", "_selected_action": [w["method"].pk]},
    )
    return PayoutMethodChange.objects.count() > before


def approve_destination_change(client, w):
    client.post(
        reverse("admin:payouts_payoutmethodchange_changelist"),
        {"action": "approve_changes", "_selected_action": [w["method_change"].pk], "apply": "1"},
    )
    w["method_change"].refresh_from_db()
    return w["method_change"].status == "approved"


def request_gateway_url_change(client, w):
    before = EndpointUrlChange.objects.count()
    client.post(
        reverse("admin:integrations_outboundendpoint_change", args=[w["gateway"].pk]),
        {"name": w["gateway"].name, "url": "https://psp-v3.example", "event_types": []},
    )
    return EndpointUrlChange.objects.count() > before


def approve_gateway_url_change(client, w):
    change = outbound.endpoint_url_change_request(
        endpoint=w["gateway"],
        url="https://psp-v2.example",
        acting_user=UserFactory(roles=["Integrations"]),
    )
    client.post(
        reverse("admin:integrations_endpointurlchange_changelist"),
        {"action": "approve_changes", "_selected_action": [change.pk]},
    )
    change.refresh_from_db()
    return change.status == "approved"


def change_subscriber_endpoint(client, w):
    client.post(
        reverse("admin:integrations_outboundendpoint_change", args=[w["subscriber"].pk]),
        {
            "name": "crm",
            "url": "https://crm-v2.example/hooks",
            "event_types": ["player.attributed"],
        },
    )
    return OutboundEndpoint.objects.get(pk=w["subscriber"].pk).url == "https://crm-v2.example/hooks"


def add_postback_template(client, w):
    client.post(
        reverse("admin:affiliates_postbacktemplate_add"),
        {
            "affiliate": w["affiliate"].pk,
            "event": "registration",
            "url_template": "https://tracker.example/pb?click={click_id}",
            "is_active": "on",
        },
    )
    return PostbackTemplate.objects.filter(affiliate=w["affiliate"]).exists()


def revoke_api_key(client, w):
    client.post(
        reverse("admin:core_apikey_changelist"),
        {"action": "revoke_keys", "_selected_action": [w["api_key"].pk]},
    )
    w["api_key"].refresh_from_db()
    return not w["api_key"].is_active


def decide_risk_case(client, w):
    case = w["risk_case"]
    client.post(
        reverse("admin:risk_riskcase_decide", args=[case.pk, "escalate"]),
        {"reason": "needs a second look"},
    )
    case.refresh_from_db()
    return case.status == "escalated"


def tune_risk_rule(client, w):
    rule = RiskRule.objects.get(code="velocity")
    client.post(
        reverse("admin:risk_riskrule_change", args=[rule.pk]),
        {"enabled": "on", "score": "35", "params": '{"multiplier": 6}'},
    )
    rule.refresh_from_db()
    return rule.score == 35


# (act, how to try it, the roles that may)
MATRIX = [
    ("see payouts, destinations masked", see_payout_masked, {"Finance"}),
    ("see a destination in full (approval page)", see_destination_in_full, {"Finance"}),
    (
        "see gateway requests, destinations masked",
        see_gateway_request_masked,
        {"Finance", "Integrations"},
    ),
    ("approve a payout (not its preparer)", approve_payout, {"Finance"}),
    ("request a payout destination change", request_destination_change, {"Finance"}),
    (
        "approve a payout destination change (not its requester)",
        approve_destination_change,
        {"Finance"},
    ),
    ("request a payment gateway URL change", request_gateway_url_change, {"Integrations"}),
    (
        "approve a payment gateway URL change (not its requester)",
        approve_gateway_url_change,
        {"Finance"},
    ),
    ("change a subscriber endpoint", change_subscriber_endpoint, {"Integrations"}),
    ("add a postback template", add_postback_template, {"Integrations"}),
    ("revoke an API key", revoke_api_key, {"Integrations"}),
    ("decide a risk case (clear, confirm, escalate)", decide_risk_case, {"Finance", "Compliance"}),
    ("tune a risk rule", tune_risk_rule, {"Compliance"}),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("act", "attempt", "allowed"), MATRIX, ids=[row[0] for row in MATRIX])
def test_each_role_may_do_exactly_its_cells(client, world, role, act, attempt, allowed):
    client.force_login(UserFactory(roles=[role]))
    assert attempt(client, world) is (role in allowed), f"{role} / {act}"


def test_a_requester_never_approves_their_own_gateway_url_change(client, world):
    engineer_and_finance = UserFactory(roles=["Integrations", "Finance"])
    change = outbound.endpoint_url_change_request(
        endpoint=world["gateway"], url="https://psp-v9.example", acting_user=engineer_and_finance
    )
    client.force_login(engineer_and_finance)
    client.post(
        reverse("admin:integrations_endpointurlchange_changelist"),
        {"action": "approve_changes", "_selected_action": [change.pk]},
    )
    change.refresh_from_db()
    assert change.status == "pending"
