"""Period close edge cases beyond the worked examples."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from apps.commissions.models import Plan, Statement, StatementRevshare
from apps.commissions.services import statements_close
from tests.commissions.factories import PlanAssignmentFactory, PlanFactory
from tests.commissions.test_worked_examples import revenue
from tests.factories import AffiliateFactory

D = Decimal
JAN = dt.date(2026, 1, 1)
pytestmark = pytest.mark.django_db


def test_plan_changed_mid_month_splits_each_players_revenue_by_day(pipeline, make_player):
    affiliate = AffiliateFactory()
    first = PlanFactory(kind=Plan.Kind.REVSHARE, revshare_percent=D(30))
    second = PlanFactory(kind=Plan.Kind.REVSHARE, revshare_percent=D(20))
    PlanAssignmentFactory(
        affiliate=affiliate,
        plan=first,
        valid_from=dt.date(2025, 6, 1),
        valid_to=dt.date(2026, 1, 15),
    )
    PlanAssignmentFactory(
        affiliate=affiliate,
        plan=second,
        valid_from=dt.date(2026, 1, 15),
        valid_to=dt.date(2026, 1, 25),
    )
    # From the 25th a CPA plan: that revenue earns no RevShare.
    PlanAssignmentFactory(
        affiliate=affiliate, plan=PlanFactory(kind=Plan.Kind.CPA), valid_from=dt.date(2026, 1, 25)
    )
    player = make_player(affiliate)
    for day, ggr in ((3, 1000), (14, 500), (15, 2000), (24, 1000), (25, 7000)):
        revenue(pipeline, player, dt.date(2026, 1, day), stakes=ggr + 100, winnings=100)
    statements_close(period=JAN)
    summaries = StatementRevshare.objects.filter(statement__affiliate=affiliate)
    assert {s.plan_id: (s.ngr, s.commission) for s in summaries} == {
        first.pk: (D(1500), D(450)),
        second.pk: (D(3000), D(600)),
    }
    statement = Statement.objects.get(affiliate=affiliate)
    assert statement.total == D("1050.00")
    assert sorted(n.ngr for n in statement.player_ngr.all()) == [D(1500), D(3000)]
