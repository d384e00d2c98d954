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


def test_one_segment_query_counts_as_the_per_segment_query(pipeline, make_player):
    """With no plan assignment starting or ending inside the period, the close's per-player NGR
    skips its second GROUP BY (sql.PER_PLAYER_ONE_SEGMENT): it must give the rows the general
    form gives, deductions, admin fee and a self-exclusion's suppressed days included."""
    from apps.commissions import periods, sql
    from apps.commissions.services.close_lines import assignment_bounds, plan_version_params
    from tests.commissions.test_terms import self_exclude

    affiliate = AffiliateFactory()
    plan = PlanFactory(
        kind=Plan.Kind.REVSHARE, revshare_percent=D(30), admin_fee_percent=D(10), deduct_taxes=False
    )
    PlanAssignmentFactory(affiliate=affiliate, plan=plan, valid_from=dt.date(2025, 6, 1))
    players = [make_player(affiliate) for _ in range(3)]
    for n, player in enumerate(players):
        for day in (2, 9, 20):
            revenue(
                pipeline,
                player,
                dt.date(2026, 1, day),
                stakes=1000 + 100 * n + day,
                winnings=300,
                bonuses=25,
                taxes=7,
                adjustments=n,
            )
    self_exclude(pipeline, players[1], dt.datetime(2026, 1, 15, 12, tzinfo=dt.UTC))
    params = {
        "start": JAN,
        "end": periods.next_period(JAN),
        "bounds": assignment_bounds(JAN),
        "tz": periods.operator_zone().key,
        **plan_version_params(JAN),
        "plan": plan.pk,
        "currency": "EUR",
    }
    assert params["bounds"] == []
    for player in players:
        one = sql.fetch_all(sql._ONE_PLAYER_NGR_SQL[True], {**params, "player": player.pk})
        general = sql.fetch_all(sql._ONE_PLAYER_NGR_SQL[False], {**params, "player": player.pk})
        assert one == general
        assert len(one) == 1
    assert any(
        row[9]
        for row in sql.fetch_all(sql._ONE_PLAYER_NGR_SQL[True], {**params, "player": players[1].pk})
    )
