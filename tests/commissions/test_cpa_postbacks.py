"""The qualified-CPA postback fires from whichever event qualifies the CPA, once."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from apps.affiliates.postbacks import PostbackTemplate
from apps.commissions.models import CommissionEntry, Plan
from apps.integrations.outbound.models import OutboundDelivery
from tests.commissions.factories import PlanAssignmentFactory, PlanFactory

UTC = dt.UTC
pytestmark = pytest.mark.django_db


def _qualified_cpa_postbacks():
    return OutboundDelivery.objects.filter(event_type="postback.qualified_cpa")


@pytest.fixture
def affiliate_with_wagering_plan(db):
    plan = PlanFactory(
        kind=Plan.Kind.CPA,
        cpa_amount=Decimal(200),
        cpa_min_ftd=Decimal(20),
        cpa_min_wagering=Decimal(100),
    )
    assignment = PlanAssignmentFactory(plan=plan)
    PostbackTemplate.objects.create(
        affiliate=assignment.affiliate,
        event="qualified_cpa",
        url_template="https://tracker.example/pb?e={event}&com={commission}",
    )
    return assignment.affiliate


def test_a_revenue_report_that_meets_the_wagering_rule_fires_the_postback(
    pipeline, make_player, affiliate_with_wagering_plan
):
    player = make_player(affiliate_with_wagering_plan)
    at = dt.datetime(2026, 1, 10, 12, tzinfo=UTC)
    pipeline.kyc(player.ref, "passed", at)
    pipeline.deposit(player.ref, "50", at)
    assert not CommissionEntry.objects.filter(kind="cpa").exists()  # waiting for the wagering
    report = {
        "report_id": "R-1",
        "player_id": player.ref,
        "date": dt.date(2026, 1, 10),
        "currency": "EUR",
        "stakes": "150",
        "winnings": "100",
    }
    pipeline.send("crm", "revenue.reported", report, at=at + dt.timedelta(hours=12))

    cpa = CommissionEntry.objects.get(kind="cpa")
    assert cpa.status == "pending"
    postback = _qualified_cpa_postbacks().get()
    assert postback.url == "https://tracker.example/pb?e=qualified_cpa&com=200.00000000"

    # The same report again (a sender retry with a new webhook id) books and fires nothing more.
    pipeline.send("crm", "revenue.reported", report, at=at + dt.timedelta(hours=12))
    assert CommissionEntry.objects.filter(kind="cpa").count() == 1
    assert _qualified_cpa_postbacks().count() == 1


def test_a_deposit_that_does_not_qualify_fires_nothing(
    pipeline, make_player, affiliate_with_wagering_plan
):
    player = make_player(affiliate_with_wagering_plan)
    pipeline.deposit(player.ref, "50", dt.datetime(2026, 1, 10, 12, tzinfo=UTC))
    assert not _qualified_cpa_postbacks().exists()
