"""Facts that arrive late and change what was already booked: an earlier first purchase, revenue
restated after its month was closed."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from apps.commissions.models import CommissionEntry, Plan, Statement, StatementLine
from apps.commissions.services import statements_close
from apps.players.facts import Purchase
from tests.commissions.factories import PlanAssignmentFactory, PlanFactory, PlanTierFactory
from tests.factories import AffiliateFactory

UTC = dt.UTC
D = Decimal
JAN, FEB, MAR = dt.date(2026, 1, 1), dt.date(2026, 2, 1), dt.date(2026, 3, 1)
pytestmark = pytest.mark.django_db


def purchase(pipeline, player, purchase_id, amount, at):
    return pipeline.send(
        "prop",
        "purchase.created",
        {
            "purchase_id": purchase_id,
            "player_id": player.ref,
            "product": "100k challenge",
            "amount": amount,
            "currency": "USD",
        },
        at=at,
    )


def _prop_player(make_player, *, parent_percent=None):
    affiliate = AffiliateFactory()
    if parent_percent is not None:
        affiliate = AffiliateFactory(parent=affiliate)
        PlanAssignmentFactory(
            affiliate=affiliate.parent, plan=PlanFactory(override_percent=D(parent_percent))
        )
    PlanAssignmentFactory(
        affiliate=affiliate,
        plan=PlanFactory(kind=Plan.Kind.PROP_FEE, prop_fee_percent=D(10), currency="USD"),
    )
    return make_player(affiliate)


# --- is_first_purchase moves to an earlier purchase that arrives late ---------------------------


def test_late_earlier_purchase_fails_the_pending_fee_and_earns_its_own(pipeline, make_player):
    player = _prop_player(make_player, parent_percent=5)
    purchase(pipeline, player, "PU-2", "300", dt.datetime(2026, 1, 10, 10, tzinfo=UTC))
    fee = CommissionEntry.objects.get(kind="prop_fee")
    assert (fee.amount, fee.status) == (D(30), "pending")
    purchase(
        pipeline, player, "PU-1", "500", dt.datetime(2026, 1, 3, 10, tzinfo=UTC)
    )  # made earlier, late
    assert Purchase.objects.get(purchase_id="PU-1").is_first_purchase
    fee.refresh_from_db()
    assert fee.status == "failed"
    assert "PU-1" in fee.status_reason
    assert (
        CommissionEntry.objects.get(kind="override", basis=fee).status == "failed"
    )  # overrides follow
    live = CommissionEntry.objects.filter(kind__in=["prop_fee", "override"]).exclude(
        status="failed"
    )
    assert sorted((e.kind, e.amount, e.status) for e in live) == [
        ("override", D("2.50000000"), "pending"),
        ("prop_fee", D("50.00000000"), "pending"),
    ]
    # Delivered in order, the ledger that counts is the same.
    statements_close(period=JAN)
    paid = CommissionEntry.objects.filter(kind="prop_fee", status="approved")
    assert [(e.amount, e.detail["purchase"]) for e in paid] == [(D(50), "prop:PU-1")]


def test_late_earlier_purchase_reverses_an_approved_fee_in_the_open_period(pipeline, make_player):
    player = _prop_player(make_player, parent_percent=5)
    purchase(pipeline, player, "PU-2", "300", dt.datetime(2026, 1, 10, 10, tzinfo=UTC))
    statements_close(period=JAN)  # the refund window passed inside January: the fee is approved
    fee = CommissionEntry.objects.get(kind="prop_fee")
    assert fee.status == "approved"
    event_id = purchase(pipeline, player, "PU-1", "500", dt.datetime(2026, 1, 3, 10, tzinfo=UTC))
    reversals = CommissionEntry.objects.filter(kind="reversal").order_by("pk")
    assert [(r.reverses.kind, r.amount, r.period) for r in reversals] == [
        ("prop_fee", D(-30), FEB),
        ("override", D("-1.5"), FEB),
    ]
    fee.refresh_from_db()
    assert (
        fee.status == "approved"
    )  # January's statement is immutable; the correction is in February
    new_fee = CommissionEntry.objects.get(kind="prop_fee", source_event_id=event_id)
    assert (new_fee.amount, new_fee.period, new_fee.status) == (D(50), FEB, "pending")
    # Processing the same fact again books nothing more.
    purchase(pipeline, player, "PU-1", "500", dt.datetime(2026, 1, 3, 10, tzinfo=UTC))
    assert CommissionEntry.objects.filter(kind="reversal").count() == 2


def test_later_purchase_leaves_the_first_fee_alone(pipeline, make_player):
    player = _prop_player(make_player)
    purchase(pipeline, player, "PU-1", "500", dt.datetime(2026, 1, 3, 10, tzinfo=UTC))
    purchase(pipeline, player, "PU-2", "300", dt.datetime(2026, 1, 10, 10, tzinfo=UTC))
    assert [(e.amount, e.status) for e in CommissionEntry.objects.all()] == [(D(50), "pending")]


# --- revenue restated after its month was closed ------------------------------------------------


def restate(pipeline, player, day: dt.date, report_id: str, ggr: int, at: dt.datetime):
    data = {
        "report_id": report_id,
        "player_id": player.ref,
        "date": day,
        "currency": "EUR",
        "stakes": str(ggr + 1000),
        "winnings": "1000",
    }
    return pipeline.send("crm", "revenue.reported", data, at=at)


def test_restated_revenue_of_a_closed_month_books_the_revshare_difference_in_the_open_period(
    pipeline, make_player
):
    parent = AffiliateFactory()
    affiliate = AffiliateFactory(parent=parent)
    PlanAssignmentFactory(affiliate=parent, plan=PlanFactory(override_percent=D(5)))
    plan = PlanFactory(kind=Plan.Kind.REVSHARE, revshare_percent=D(30))
    PlanAssignmentFactory(affiliate=affiliate, plan=plan)
    player, other = make_player(affiliate), make_player(affiliate)
    day = dt.date(2026, 1, 10)
    restate(pipeline, player, day, "R-1", 10000, dt.datetime(2026, 1, 10, 23, tzinfo=UTC))
    restate(pipeline, other, day, "R-2", 5000, dt.datetime(2026, 1, 10, 23, tzinfo=UTC))
    statements_close(period=JAN)
    january = Statement.objects.get(affiliate=affiliate, period=JAN)
    assert january.total == D("4500.00")
    # The operator restates the player's 10 January in February: GGR 12,000.
    event_id = restate(pipeline, player, day, "R-1b", 12000, dt.datetime(2026, 2, 3, 9, tzinfo=UTC))
    adjustment = CommissionEntry.objects.get(kind="adjustment", source_event_id=event_id)
    assert (adjustment.amount, adjustment.period, adjustment.status) == (D(600), FEB, "approved")
    assert (adjustment.player, adjustment.plan, adjustment.reverses.kind) == (
        player,
        plan,
        "revshare",
    )
    assert adjustment.detail["player_ngr_before"] == "10000.00000000"
    assert adjustment.detail["player_ngr"] == "12000.00000000"
    assert CommissionEntry.objects.get(kind="override", basis=adjustment).amount == D(30)
    # January is untouched.
    january.refresh_from_db()
    assert january.total == D("4500.00")
    assert StatementLine.objects.get(statement=january, kind="revshare").amount == D("4500.00")
    # The same report again changes nothing; a report older than the current one is history only.
    restate(pipeline, player, day, "R-1b", 12000, dt.datetime(2026, 2, 3, 9, tzinfo=UTC))
    restate(pipeline, player, day, "R-1-old", 1, dt.datetime(2026, 1, 5, 9, tzinfo=UTC))
    assert CommissionEntry.objects.filter(kind="adjustment").count() == 1
    # A second restatement books only what changed since the first: down to 9,000.
    restate(pipeline, player, day, "R-1c", 9000, dt.datetime(2026, 2, 5, 9, tzinfo=UTC))
    amounts = list(
        CommissionEntry.objects.filter(kind="adjustment")
        .order_by("pk")
        .values_list("amount", flat=True)
    )
    assert amounts == [D(600), D(-900)]
    assert D(4500) + sum(amounts) == D("0.30") * (
        9000 + 5000
    )  # January's RevShare on its current revenue
    statements_close(period=FEB)
    assert StatementLine.objects.get(
        statement__affiliate=affiliate, statement__period=FEB, kind="adjustment"
    ).amount == D("-300.00")
    # The parent's override follows: +30 on the first, -45 on the second (a negative override
    # is booked as a clawback line).
    assert Statement.objects.get(affiliate=parent, period=FEB).total == D("-15.00")


def test_restatement_across_a_tier_uses_the_period_band(pipeline, make_player):
    plan = PlanFactory(kind=Plan.Kind.REVSHARE, revshare_tier_mode="whole")
    PlanTierFactory(plan=plan, threshold=D(0), percent=D(25))
    PlanTierFactory(plan=plan, threshold=D(7500), percent=D(30))
    assignment = PlanAssignmentFactory(plan=plan)
    player = make_player(assignment.affiliate)
    restate(
        pipeline, player, dt.date(2026, 1, 4), "R-1", 5000, dt.datetime(2026, 1, 4, 23, tzinfo=UTC)
    )
    restate(
        pipeline,
        make_player(assignment.affiliate),
        dt.date(2026, 1, 4),
        "R-2",
        2000,
        dt.datetime(2026, 1, 4, 23, tzinfo=UTC),
    )
    statements_close(period=JAN)  # 7,000 at 25% = 1,750
    restate(
        pipeline, player, dt.date(2026, 1, 4), "R-1b", 6000, dt.datetime(2026, 2, 2, tzinfo=UTC)
    )
    # 8,000 reaches the 30% band for the whole period: 2,400, i.e. 650 more.
    assert CommissionEntry.objects.get(kind="adjustment").amount == D(650)


def test_revenue_of_an_open_month_books_no_adjustment(pipeline, make_player):
    assignment = PlanAssignmentFactory(
        plan=PlanFactory(kind=Plan.Kind.REVSHARE, revshare_percent=D(30))
    )
    player = make_player(assignment.affiliate)
    restate(
        pipeline, player, dt.date(2026, 1, 4), "R-1", 5000, dt.datetime(2026, 1, 4, 23, tzinfo=UTC)
    )
    restate(
        pipeline, player, dt.date(2026, 1, 4), "R-1b", 6000, dt.datetime(2026, 1, 5, 23, tzinfo=UTC)
    )
    assert not CommissionEntry.objects.exists()
