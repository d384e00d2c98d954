"""A player's whole story on one page: identifiers and attribution, compliance state, facts with
totals, commission lines, clawback cases and the events behind them, each linked; each panel
shown only to those who may see its records."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group

from apps.commissions.models import Plan
from tests.commissions.factories import PlanAssignmentFactory, PlanFactory
from tests.commissions.pipeline import Pipeline, player_maker
from tests.factories import AffiliateFactory, SelfExclusionFactory, UserFactory

pytestmark = pytest.mark.django_db
T = dt.datetime(2026, 1, 10, 12, tzinfo=dt.UTC)


@pytest.fixture
def story_player(db):
    pipeline = Pipeline()
    affiliate = AffiliateFactory(name="Acme Media")
    PlanAssignmentFactory(
        affiliate=affiliate, plan=PlanFactory(kind=Plan.Kind.CPA, cpa_amount=Decimal(200))
    )
    player = player_maker()(affiliate)
    pipeline.kyc(player.ref, "passed", T)
    pipeline.deposit(player.ref, "1234.5", T, deposit_id="DEP-1")
    pipeline.deposit(player.ref, "100", T + dt.timedelta(days=1), deposit_id="DEP-2")
    pipeline.send(
        "payments",
        "chargeback.created",
        {"chargeback_id": "CB-9", "player_id": player.ref, "amount": "100", "currency": "EUR"},
        at=T + dt.timedelta(days=2),
    )
    SelfExclusionFactory(player=player, starts_at=T + dt.timedelta(days=3))
    return player


def _page(client, user, player) -> str:
    client.force_login(user)
    response = client.get(f"/admin/players/player/{player.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


def test_a_superuser_sees_every_part_of_the_story_linked(client, story_player):
    html = _page(client, UserFactory(is_superuser=True, is_staff=True), story_player)
    for panel in (
        "story-compliance",
        "story-deposits",
        "story-chargebacks",
        "story-ledger",
        "story-clawbacks",
        "story-events",
    ):
        assert f'id="{panel}"' in html, panel
    assert "1,334.50 EUR" in html  # deposits total, as money
    assert "1,234.50 EUR" in html
    assert ">DEP-1</a>" in html and "/admin/players/deposit/" in html
    assert "Self-excluded now" in html and "passed" in html.lower()
    assert "/admin/commissions/commissionentry/" in html and "200.00 EUR" in html
    assert "/admin/commissions/clawbackcase/" in html and "CB-9" in html
    assert "/admin/integrations/inboundevent/" in html  # the events behind the facts


def test_each_panel_needs_the_permission_for_its_records(client, story_player):
    retention = UserFactory(is_staff=True)
    retention.groups.add(Group.objects.get(name="Retention"))
    html = _page(client, retention, story_player)
    assert 'id="story-deposits"' in html  # Retention reads deposits
    assert 'id="story-ledger"' not in html and 'id="story-compliance"' not in html
