"""An affiliate's and an event's whole story on their admin pages (issue 15 §3): an affiliate
with its players, plans, ledger by status, statements, payouts, sub-affiliates and postbacks; an
event with the facts it recorded and the ledger lines it booked, each linked; each panel only
for those who may see its records."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from apps.affiliates.postbacks import PostbackTemplate
from apps.commissions.models import Plan
from apps.payouts import services as payouts
from tests.commissions.factories import PlanAssignmentFactory, PlanFactory
from tests.commissions.pipeline import Pipeline, player_maker
from tests.factories import AffiliateFactory, UserFactory
from tests.payouts.factories import GatewayEndpointFactory, PayoutMethodFactory, approved_statement

pytestmark = pytest.mark.django_db
T = dt.datetime(2026, 1, 10, 12, tzinfo=dt.UTC)


@pytest.fixture
def story():
    pipeline = Pipeline()
    affiliate = AffiliateFactory(name="Acme Media")
    AffiliateFactory(name="Acme Junior", parent=affiliate)
    PlanAssignmentFactory(
        affiliate=affiliate,
        plan=PlanFactory(name="CPA 200", kind=Plan.Kind.CPA, cpa_amount=Decimal(200)),
    )
    player = player_maker()(affiliate)
    pipeline.kyc(player.ref, "passed", T)
    deposit_event = pipeline.deposit(player.ref, "1234.5", T, deposit_id="DEP-1")
    PostbackTemplate.objects.create(
        affiliate=affiliate, event="first_deposit", url_template="https://t.example/pb?c={click_id}"
    )
    GatewayEndpointFactory()
    PayoutMethodFactory(affiliate=affiliate)
    approved_statement(affiliate=affiliate, total=Decimal("310.00"))
    payouts.payout_run_create()
    return {"affiliate": affiliate, "player": player, "deposit_event": deposit_event}


def _page(client, user, url) -> str:
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def test_an_affiliate_page_tells_its_whole_story_linked(client, story):
    affiliate = story["affiliate"]
    html = _page(
        client,
        UserFactory(is_superuser=True, is_staff=True),
        f"/admin/affiliates/affiliate/{affiliate.pk}/change/",
    )
    for panel in ("players", "plans", "balance", "statements", "payouts", "subs", "postbacks"):
        assert f'id="story-{panel}"' in html, panel
    assert f"/admin/players/player/{story['player'].pk}/change/" in html
    assert "CPA 200 (version 1)" in html
    assert "310.00 EUR" in html  # the statement and its payout, as money
    assert "/admin/payouts/payout/" in html and "Draft" in html
    assert "Acme Junior" in html and "https://t.example/pb?c={click_id}" in html


def test_an_affiliate_page_shows_each_role_only_its_panels(client, story):
    url = f"/admin/affiliates/affiliate/{story['affiliate'].pk}/change/"
    compliance = _page(client, UserFactory(roles=["Compliance"]), url)
    assert 'id="story-players"' in compliance and 'id="story-payouts"' not in compliance
    assert 'id="story-balance"' in compliance  # Compliance reads the ledger (clawbacks)
    finance = _page(client, UserFactory(roles=["Finance"]), url)
    assert 'id="story-payouts"' in finance and 'id="story-statements"' in finance
    assert 'id="story-postbacks"' not in finance  # postbacks are the Integrations role's


def test_an_event_page_shows_what_it_recorded_and_booked(client, story):
    html = _page(
        client,
        UserFactory(is_superuser=True, is_staff=True),
        f"/admin/integrations/inboundevent/{story['deposit_event']}/change/",
    )
    assert 'id="story-facts"' in html and 'id="story-ledger"' in html
    assert "/admin/players/deposit/" in html
    assert f"/admin/players/player/{story['player'].pk}/change/" in html
    assert "/admin/commissions/commissionentry/" in html and "200.00 EUR" in html


def test_a_payout_links_the_statements_it_pays_and_its_gateway_requests(client, story):
    from apps.payouts.models import Payout

    payout = Payout.objects.get(affiliate=story["affiliate"])
    html = _page(
        client,
        UserFactory(is_superuser=True, is_staff=True),
        f"/admin/payouts/payout/{payout.pk}/change/",
    )
    statement = payout.allocations.get().statement
    assert f"/admin/commissions/statement/{statement.pk}/change/" in html
    assert "310.00 EUR" in html
    assert f"topic=payout.request&amp;subject={payout.reference}" in html


def test_a_ledger_line_links_its_statement_and_the_payout_paying_it(client, story):
    from apps.commissions.models import CommissionEntry

    line = CommissionEntry.objects.filter(
        affiliate=story["affiliate"], statement_period__isnull=False
    ).first()
    html = _page(
        client,
        UserFactory(is_superuser=True, is_staff=True),
        f"/admin/commissions/commissionentry/{line.pk}/change/",
    )
    assert "/admin/commissions/statement/" in html and "/admin/payouts/payout/" in html
