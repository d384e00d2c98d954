"""DOMAIN.md "Trades": reverse deals, close-by, the minimum hold time and spread share, through
the inbound pipeline. Lot rebate 5.00 USD per FX-major lot unless a test says otherwise."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from apps.commissions.models import CommissionEntry, InstrumentGroup, Plan
from tests.commissions.factories import LotRateFactory, PlanAssignmentFactory, PlanFactory

UTC = dt.UTC
D = Decimal
T0 = dt.datetime(2026, 1, 12, 9, tzinfo=UTC)
pytestmark = pytest.mark.django_db


def rebate_player(make_player, **plan):
    plan = PlanFactory(kind=Plan.Kind.LOT_REBATE, currency="USD", **plan)
    LotRateFactory(plan=plan, group=InstrumentGroup.objects.get(code="fx_major"), rate=D(5))
    return make_player(PlanAssignmentFactory(plan=plan).affiliate)


def deal(
    pipeline,
    player,
    deal_id,
    position,
    lots,
    entry,
    minutes,
    *,
    symbol="EURUSD",
    opened_minutes=None,
):
    return pipeline.trade(
        player.ref,
        deal_id=deal_id,
        position_id=position,
        symbol=symbol,
        lots=lots,
        entry=entry,
        closed_at=T0 + dt.timedelta(minutes=minutes),
        opened_at=None if opened_minutes is None else T0 + dt.timedelta(minutes=opened_minutes),
    )


def paid(kind="lot_rebate"):
    return [
        (e.quantity, e.amount, e.status)
        for e in CommissionEntry.objects.filter(kind=kind).order_by("pk")
    ]


def test_reverse_deal_pays_only_the_closed_part_then_the_reversed_position_on_its_close(
    pipeline, make_player
):
    """Buy 2 lots; a reverse (inout) of 5 lots closes those 2 and opens a 3-lot sell; an out of
    3 lots closes the sell. Close side: 2 x 5.00 = 10.00 on the reverse, 3 x 5.00 = 15.00 on the
    final close; 5 lots rebated in all, not 5 + 3."""
    player = rebate_player(make_player)
    deal(pipeline, player, "1", "P", "2", "in", 0)
    deal(pipeline, player, "2", "P", "5", "inout", 30)
    deal(pipeline, player, "3", "P", "3", "out", 60)
    assert paid() == [(D(2), D(10), "approved"), (D(3), D(15), "approved")]
    reverse = CommissionEntry.objects.filter(kind="lot_rebate").order_by("pk").first()
    assert reverse.detail["note"] == "closed part of a reverse"


def test_reverse_deal_with_unknown_opening_is_suppressed_with_the_reason(pipeline, make_player):
    player = rebate_player(make_player)
    deal(pipeline, player, "2", "Q", "5", "inout", 30)
    line = CommissionEntry.objects.get(kind="lot_rebate")
    assert (line.amount, line.status) == (D(0), "suppressed")
    assert line.status_reason == "Reverse deal: the position's opening volume is unknown"


def test_open_side_pays_the_opened_part_of_a_reverse(pipeline, make_player):
    """Open side: the 2-lot buy pays 10.00 when opened; the 5-lot reverse opens 3 lots: 15.00."""
    player = rebate_player(make_player, rebate_side=Plan.Side.OPEN)
    deal(pipeline, player, "1", "P", "2", "in", 0)
    deal(pipeline, player, "2", "P", "5", "inout", 30)
    deal(pipeline, player, "3", "P", "3", "out", 60)
    assert paid() == [(D(2), D(10), "approved"), (D(3), D(15), "approved")]


def test_close_by_pays_one_leg(pipeline, make_player):
    """A 1-lot buy (position A) closed by a 1-lot sell (position B): two out_by deals, one per
    position, at the same time. One leg pays 1 x 5.00 = 5.00; the other is suppressed."""
    player = rebate_player(make_player)
    deal(pipeline, player, "a-in", "A", "1", "in", 0)
    deal(pipeline, player, "b-in", "B", "1", "in", 5)
    deal(pipeline, player, "a-by", "A", "1", "out_by", 60)
    deal(pipeline, player, "b-by", "B", "1", "out_by", 60)
    assert paid() == [(D(1), D(5), "approved"), (D(0), D(0), "suppressed")]
    assert (
        CommissionEntry.objects.get(status="suppressed").status_reason
        == "Close-by: the other leg of the pair was paid"
    )


def test_minimum_hold_time(pipeline, make_player):
    """Minimum hold 120 s: a position held 60 s pays nothing (kept, suppressed, with the reason);
    one held 300 s pays 1 x 5.00; a close whose open time is unknown is suppressed too."""
    player = rebate_player(make_player, min_hold_seconds=120)
    deal(pipeline, player, "1", "S", "1", "out", 1, opened_minutes=0)  # 60 s
    deal(pipeline, player, "2", "L", "1", "out", 10, opened_minutes=5)  # 300 s
    deal(pipeline, player, "3", "U", "1", "out", 20)  # no open time, no opening deal
    assert paid() == [
        (D(1), D(5), "suppressed"),
        (D(1), D(5), "approved"),
        (D(1), D(5), "suppressed"),
    ]
    reasons = list(
        CommissionEntry.objects.filter(status="suppressed")
        .order_by("pk")
        .values_list("status_reason", flat=True)
    )
    assert reasons == [
        "Held 60 s, under the plan's minimum of 120 s",
        "Hold time unknown (no open time)",
    ]


def test_spread_share(pipeline, make_player):
    """25% of spread revenue (spread x contract size x lots): EURUSD 0.00010 x 100,000 x 2 lots =
    20.00 -> 5.00; XAUUSD 0.25 x 100 x 1 lot = 25.00 -> 6.25; an unmapped symbol earns nothing,
    suppressed with the reason. The minimum hold applies too: a 30-s EURUSD trade is suppressed."""
    plan = PlanFactory(
        kind=Plan.Kind.SPREAD_SHARE, currency="USD", spread_share_percent=D(25), min_hold_seconds=60
    )
    player = make_player(PlanAssignmentFactory(plan=plan).affiliate)
    deal(pipeline, player, "1", "E", "2", "out", 10, opened_minutes=0)
    deal(pipeline, player, "2", "G", "1", "out", 20, symbol="XAUUSD", opened_minutes=0)
    deal(pipeline, player, "3", "Z", "1", "out", 30, symbol="FOOBAR", opened_minutes=0)
    deal(pipeline, player, "4", "F", "1", "out", 40, opened_minutes=39.5)
    assert paid("spread_share") == [
        (D(2), D(5), "approved"),
        (D(1), D("6.25"), "approved"),
        (D(1), D(0), "suppressed"),
        (D(1), D("2.5"), "suppressed"),
    ]
    reasons = list(
        CommissionEntry.objects.filter(status="suppressed")
        .order_by("pk")
        .values_list("status_reason", flat=True)
    )
    assert reasons == [
        "Symbol FOOBAR is not mapped to an instrument group",
        "Held 30 s, under the plan's minimum of 60 s",
    ]


def test_trades_of_a_self_excluded_player_are_suppressed(pipeline, make_player):
    player = rebate_player(make_player)
    pipeline.send(
        "compliance", "self_exclusion.started", {"player_id": player.ref, "starts_at": T0}, at=T0
    )
    deal(pipeline, player, "1", "P", "1", "out", 10, opened_minutes=0)
    line = CommissionEntry.objects.get(kind="lot_rebate")
    assert (line.status, line.status_reason.split(":")[0]) == ("suppressed", "Player self-excluded")
