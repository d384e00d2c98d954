"""Property tests for the compliance gate on every accrual (issue 13): whatever the order and
duplication of a month's events (self-exclusions included), the statements are the ledger's sums
and nothing accrues for a player while self-excluded."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import transaction
from django.db.models import Q, Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.commissions.models import (
    CommissionEntry,
    InstrumentGroup,
    Plan,
    Statement,
    StatementPlayerNgr,
)
from apps.commissions.services import statements_close
from apps.compliance.models import SelfExclusion
from apps.players.facts import RevenueReport
from tests.commissions.factories import LotRateFactory, PlanAssignmentFactory, PlanFactory
from tests.commissions.pipeline import Pipeline, player_maker
from tests.factories import AffiliateFactory, BrandLicenceFactory

pytestmark = pytest.mark.django_db
UTC = dt.UTC
JAN = dt.date(2026, 1, 1)
T0 = dt.datetime(2026, 1, 2, 9, tzinfo=UTC)
HYPOTHESIS = settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
ACCRUED = ("pending", "approved", "paid")

money = st.decimals(
    min_value=Decimal("1"),
    max_value=Decimal("3000"),
    places=2,
    allow_nan=False,
    allow_infinity=False,
)


@st.composite
def months(draw):
    """A January of events for 3 players (KYC, a first deposit, revenue days, closed positions),
    each of whom may self-exclude from some day; then any delivery order, with duplicates."""
    events = []
    for p in range(3):
        when = T0 + dt.timedelta(hours=draw(st.integers(0, 48)))
        events.append(
            (when, p, "compliance", "kyc.updated", {"status": "passed", "updated_at": when})
        )
        events.append(
            (
                when + dt.timedelta(hours=1),
                p,
                "payments",
                "deposit.created",
                {"deposit_id": f"D{p}", "amount": draw(money), "currency": "EUR"},
            )
        )
        for day in sorted(draw(st.sets(st.integers(3, 30), min_size=1, max_size=4))):
            stakes = draw(money)
            date = dt.date(2026, 1, day)
            events.append(
                (
                    dt.datetime.combine(date, dt.time(23), tzinfo=UTC),
                    p,
                    "crm",
                    "revenue.reported",
                    {
                        "report_id": f"R{p}-{day}",
                        "date": date,
                        "currency": "EUR",
                        "stakes": stakes,
                        "winnings": draw(st.decimals(0, stakes, places=2)),
                    },
                )
            )
        for pos in range(draw(st.integers(0, 2))):
            closed = T0 + dt.timedelta(days=draw(st.integers(1, 27)), hours=3)
            lots = str(draw(st.decimals(Decimal("0.1"), Decimal("5"), places=1)))
            for deal, entry, at in (
                ("in", "in", closed - dt.timedelta(hours=2)),
                ("out", "out", closed),
            ):
                events.append(
                    (
                        at,
                        p,
                        "trading",
                        "trade.closed",
                        {
                            "deal_id": f"{deal}-{p}-{pos}",
                            "position_id": f"{p}-{pos}",
                            "symbol": "EURUSD",
                            "volume_lots": lots,
                            "entry": entry,
                            "closed_at": at,
                        },
                    )
                )
        if draw(st.booleans()):
            starts = dt.datetime(
                2026, 1, draw(st.integers(3, 28)), draw(st.integers(0, 23)), tzinfo=UTC
            )
            events.append(
                (starts, p, "compliance", "self_exclusion.started", {"starts_at": starts})
            )
    order = draw(st.permutations(range(len(events))))
    duplicates = draw(st.lists(st.integers(0, len(events) - 1), max_size=4))
    return events, list(order) + duplicates


def _setup():
    affiliate = AffiliateFactory(parent=AffiliateFactory())
    hybrid = PlanFactory(
        kind=Plan.Kind.HYBRID,
        cpa_amount=Decimal(150),
        cpa_min_ftd=Decimal(50),
        revshare_percent=Decimal(30),
    )
    PlanAssignmentFactory(affiliate=affiliate, plan=hybrid, brand="spinpalace")
    PlanAssignmentFactory(
        affiliate=affiliate.parent,
        plan=PlanFactory(override_percent=Decimal(5)),
        brand="spinpalace",
    )
    rebate = PlanFactory(kind=Plan.Kind.LOT_REBATE, currency="EUR")
    LotRateFactory(plan=rebate, group=InstrumentGroup.objects.get(code="fx_major"), rate=Decimal(5))
    PlanAssignmentFactory(affiliate=affiliate, plan=rebate, brand="fxbrand")
    BrandLicenceFactory(brand="fxbrand", country__code="DE")
    make = player_maker()
    registered = dt.datetime(2026, 1, 1, 8, tzinfo=UTC)
    return [
        make(affiliate, registered_at=registered),
        make(affiliate, registered_at=registered),
        make(affiliate, registered_at=registered, brand="fxbrand"),
    ]


def _deliver(events, sequence, players):
    pipeline = Pipeline()
    for index in sequence:
        at, p, kind, event_type, data = events[index]
        ref = players[p].ref
        data = (
            {
                **data,
                "platform": "mt5",
                "server": "s1",
                "login": ref,
                "profit": "0",
                "currency": "EUR",
            }
            if kind == "trading"
            else {**data, "player_id": ref}
        )
        pipeline.send(kind, event_type, data, at=at, webhook_id=f"e-{index}")


@HYPOTHESIS
@given(month=months())
def test_any_order_statements_equal_the_ledger_and_nothing_accrues_while_excluded(month):
    events, sequence = month
    with transaction.atomic():
        players = _setup()
        _deliver(events, sequence, players)
        statements_close(period=JAN)

        # Statements are the ledger's sums: each line the exact sum of its approved rows, the
        # total the sum of the rounded lines.
        for statement in Statement.objects.all():
            carried = CommissionEntry.objects.filter(
                statement_period=statement.period,
                affiliate=statement.affiliate,
                currency=statement.currency,
                status="approved",
            ).aggregate(s=Sum("amount"))["s"] or Decimal(0)
            lines = list(statement.lines.all())
            assert sum((line.exact_amount for line in lines), Decimal(0)) == carried
            assert statement.total == sum((line.amount for line in lines), Decimal(0))

        for player in players:
            exclusion = SelfExclusion.objects.filter(player=player).order_by("starts_at").first()
            if exclusion is None:
                continue
            # Nothing that happened while excluded is left accrued: what the gate did not stop
            # (it arrived before the exclusion) was failed or reversed.
            left = CommissionEntry.objects.filter(
                Q(player=player) | Q(basis__player=player),
                occurred_at__gte=exclusion.starts_at,
                status__in=ACCRUED,
            ).exclude(kind__in=["revshare", "adjustment", "tier_adjustment"])
            assert (left.aggregate(s=Sum("amount"))["s"] or Decimal(0)) == 0, list(left.values())
            # The unapproved CPA fails, whichever arrived first.
            assert not CommissionEntry.objects.filter(
                player=player, kind="cpa", status__in=ACCRUED
            ).exists()
            # RevShare: the player's NGR earns only for the days before the exclusion's day.
            reports = RevenueReport.objects.filter(player=player, is_current=True)
            gated_from = exclusion.starts_at.date()
            earning = sum(
                (r.stakes - r.winnings for r in reports if r.date < gated_from), Decimal(0)
            )
            gated = sum(
                (r.stakes - r.winnings for r in reports if r.date >= gated_from), Decimal(0)
            )
            snapshot = StatementPlayerNgr.objects.filter(player=player).first()
            if snapshot is not None:
                assert (snapshot.ngr, snapshot.suppressed_ngr) == (earning, gated)
        transaction.set_rollback(True)
