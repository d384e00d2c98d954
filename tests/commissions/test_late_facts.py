"""Facts that arrive late and change what was already booked: an earlier first purchase, revenue
restated after its month was closed."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from apps.commissions.models import CommissionEntry, Plan
from apps.commissions.services import statements_close
from apps.players.facts import Purchase
from tests.commissions.factories import PlanAssignmentFactory, PlanFactory
from tests.factories import AffiliateFactory

UTC = dt.UTC
D = Decimal
JAN, FEB, MAR = dt.date(2026, 1, 1), dt.date(2026, 2, 1), dt.date(2026, 3, 1)
pytestmark = pytest.mark.django_db


def purchase(pipeline, player, purchase_id, amount, at):
    return pipeline.send("prop", "purchase.created", {"purchase_id": purchase_id, "player_id": player.ref,
                                                      "product": "100k challenge", "amount": amount,
                                                      "currency": "USD"}, at=at)


def _prop_player(make_player, *, parent_percent=None):
    affiliate = AffiliateFactory()
    if parent_percent is not None:
        affiliate = AffiliateFactory(parent=affiliate)
        PlanAssignmentFactory(affiliate=affiliate.parent, plan=PlanFactory(override_percent=D(parent_percent)))
    PlanAssignmentFactory(affiliate=affiliate, plan=PlanFactory(kind=Plan.Kind.PROP_FEE, prop_fee_percent=D(10),
                                                                currency="USD"))
    return make_player(affiliate)


# --- is_first_purchase moves to an earlier purchase that arrives late ---------------------------

def test_late_earlier_purchase_fails_the_pending_fee_and_earns_its_own(pipeline, make_player):
    player = _prop_player(make_player, parent_percent=5)
    purchase(pipeline, player, "PU-2", "300", dt.datetime(2026, 1, 10, 10, tzinfo=UTC))
    fee = CommissionEntry.objects.get(kind="prop_fee")
    assert (fee.amount, fee.status) == (D(30), "pending")
    purchase(pipeline, player, "PU-1", "500", dt.datetime(2026, 1, 3, 10, tzinfo=UTC))  # made earlier, late
    assert Purchase.objects.get(purchase_id="PU-1").is_first_purchase
    fee.refresh_from_db()
    assert fee.status == "failed"
    assert "PU-1" in fee.status_reason
    assert CommissionEntry.objects.get(kind="override", basis=fee).status == "failed"  # overrides follow
    live = CommissionEntry.objects.filter(kind__in=["prop_fee", "override"]).exclude(status="failed")
    assert sorted((e.kind, e.amount, e.status) for e in live) == [
        ("override", D("2.50000000"), "pending"), ("prop_fee", D("50.00000000"), "pending")]
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
        ("prop_fee", D(-30), FEB), ("override", D("-1.5"), FEB)]
    fee.refresh_from_db()
    assert fee.status == "approved"  # January's statement is immutable; the correction is in February
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
