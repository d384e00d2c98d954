"""Property tests: delivery order and duplicates do not change the ledger; statements are sums
of the ledger; no float reaches a money field."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import transaction
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.commissions.models import CommissionEntry, InstrumentGroup, Plan, Statement
from apps.commissions.services import LedgerError, Line, entry_book, statements_close
from apps.core.money import MoneyError, round_money, to_decimal
from apps.integrations.inbound.services import inbound_event_process
from tests.commissions.factories import LotRateFactory, PlanAssignmentFactory, PlanFactory
from tests.commissions.pipeline import Pipeline, player_maker
from tests.factories import AffiliateFactory, BrandLicenceFactory

pytestmark = pytest.mark.django_db
UTC = dt.UTC
T0 = dt.datetime(2026, 1, 3, 9, tzinfo=UTC)
HYPOTHESIS = settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

money = st.decimals(
    min_value=Decimal("1"),
    max_value=Decimal("5000"),
    places=2,
    allow_nan=False,
    allow_infinity=False,
)
lots = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("20"), places=2)


@st.composite
def event_streams(draw):
    """Envelopes for 3 players: KYC, deposits, revenue, positions closed in partial deals,
    purchases."""
    events = []
    for p in range(3):
        minute = draw(st.integers(0, 600))
        events.append(
            (
                p,
                "compliance",
                "kyc.updated",
                {
                    "status": draw(st.sampled_from(["passed", "pending"])),
                    "updated_at": T0 + dt.timedelta(minutes=minute),
                },
            )
        )
        for d in range(draw(st.integers(0, 2))):
            events.append(
                (
                    p,
                    "payments",
                    "deposit.created",
                    {"deposit_id": f"D{p}-{d}", "amount": draw(money), "currency": "EUR"},
                )
            )
        for r in range(draw(st.integers(0, 2))):
            stakes = draw(money)
            events.append(
                (
                    p,
                    "crm",
                    "revenue.reported",
                    {
                        "report_id": f"R{p}-{r}",
                        "date": dt.date(2026, 1, 5 + r),
                        "currency": "EUR",
                        "stakes": stakes,
                        "winnings": draw(st.decimals(0, stakes, places=2)),
                    },
                )
            )
        for pos in range(draw(st.integers(0, 2))):
            parts = draw(st.lists(lots, min_size=1, max_size=3))
            total = sum(parts)
            symbol = draw(st.sampled_from(["EURUSD", "XAUUSD", "US30"]))
            events.append(
                (
                    p,
                    "trading",
                    "trade.closed",
                    {
                        "deal_id": f"in-{p}-{pos}",
                        "position_id": f"{p}-{pos}",
                        "symbol": symbol,
                        "volume_lots": total,
                        "entry": "in",
                    },
                )
            )
            for n, part in enumerate(parts):
                events.append(
                    (
                        p,
                        "trading",
                        "trade.closed",
                        {
                            "deal_id": f"out-{p}-{pos}-{n}",
                            "position_id": f"{p}-{pos}",
                            "symbol": symbol,
                            "volume_lots": part,
                            "entry": "out",
                        },
                    )
                )
    order = draw(st.permutations(range(len(events))))
    duplicates = (
        draw(st.lists(st.integers(0, max(len(events) - 1, 0)), max_size=4)) if events else []
    )
    return events, list(order), duplicates


def _setup():
    parent = AffiliateFactory()
    sub = AffiliateFactory(parent=parent)
    hybrid = PlanFactory(
        kind=Plan.Kind.HYBRID,
        cpa_amount=Decimal(150),
        cpa_min_ftd=Decimal(100),
        revshare_percent=Decimal(25),
        admin_fee_percent=Decimal(10),
    )
    PlanAssignmentFactory(affiliate=sub, plan=hybrid, brand="spinpalace")
    rebate = PlanFactory(kind=Plan.Kind.LOT_REBATE, currency="USD")
    for code, rate in (("fx_major", "5"), ("metals", "8"), ("indices", "1")):
        LotRateFactory(
            plan=rebate, group=InstrumentGroup.objects.get(code=code), rate=Decimal(rate)
        )
    PlanAssignmentFactory(affiliate=sub, plan=rebate, brand="fxbrand")
    PlanAssignmentFactory(
        affiliate=parent, plan=PlanFactory(override_percent=Decimal(5)), brand="spinpalace"
    )
    make = player_maker()
    BrandLicenceFactory(brand="fxbrand", country__code="DE")
    players = [
        make(sub, registered_at=T0),
        make(sub, registered_at=T0),
        make(sub, registered_at=T0, brand="fxbrand"),
    ]
    return (parent, sub), players


def _envelope(event, refs, index):
    # Each fact happened at its own time (generation order), whatever order it is delivered in.
    at = T0 + dt.timedelta(hours=1, minutes=index)
    p, kind, event_type, data = event
    data = (
        {**data, "player_id": refs[p]}
        if kind != "trading"
        else {
            **data,
            "platform": "mt5",
            "server": "s1",
            "login": refs[p],
            "profit": "0",
            "currency": "USD",
            "closed_at": at,
        }
    )
    return kind, event_type, data, at


def _deliver(pipeline, events, refs, sequence, prefix):
    for index in sequence:
        kind, event_type, data, at = _envelope(events[index], refs, index)
        # The same webhook id for the same event: the store deduplicates redeliveries.
        pipeline.send(kind, event_type, data, at=at, webhook_id=f"{prefix}-{index}")


def _ledger(affiliates, players):
    """The ledger that counts (failed/cancelled rows are the audit trail of what did not
    qualify, and exist only when facts arrived out of order), with ids replaced by roles so two
    runs compare. `occurred_at` is left out: a CPA booked before an earlier first deposit
    arrived keeps the qualification time it was booked with."""
    role = {a.pk: name for a, name in zip(affiliates, ("parent", "sub"), strict=True)}
    index = {p.pk: n for n, p in enumerate(players)}
    rows = CommissionEntry.objects.exclude(status__in=["failed", "cancelled"]).values_list(
        "kind", "affiliate_id", "player_id", "amount", "currency", "status", "quantity", "period"
    )
    return sorted(((k, role[a], index.get(p), *rest) for k, a, p, *rest in rows), key=repr)


def _run(events, sequence):
    """Deliver in a savepoint that is rolled back; return the ledger it produced."""
    with transaction.atomic():
        pipeline = Pipeline()
        affiliates, players = _setup()
        _deliver(pipeline, events, [p.ref for p in players], sequence, "e")
        result = _ledger(affiliates, players)
        transaction.set_rollback(True)
    return result


@HYPOTHESIS
@given(stream=event_streams())
def test_reordered_and_duplicated_delivery_gives_the_same_ledger(stream):
    events, order, duplicates = stream
    in_order = _run(events, list(range(len(events))))
    shuffled = _run(events, order + duplicates)
    assert shuffled == in_order


@HYPOTHESIS
@given(stream=event_streams())
def test_statement_totals_equal_ledger_sums(stream):
    events, _, _ = stream
    with transaction.atomic():
        pipeline = Pipeline()
        _, players = _setup()
        _deliver(pipeline, events, [p.ref for p in players], range(len(events)), "s")
        statements_close(period=dt.date(2026, 1, 1))
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
            assert abs(statement.total - round_money(carried, statement.currency)) <= Decimal(
                "0.01"
            ) * len(lines)
        assert all(
            isinstance(amount, Decimal)
            for amount in CommissionEntry.objects.values_list("amount", flat=True)
        )
        transaction.set_rollback(True)


@given(value=st.floats(allow_nan=False, allow_infinity=False))
def test_no_float_reaches_a_money_field(value):
    with pytest.raises(MoneyError):
        to_decimal(value)
    with pytest.raises(LedgerError):
        entry_book(
            line=Line(
                kind="adjustment",
                affiliate=None,
                amount=value,
                currency="EUR",
                occurred_at=T0,
                status="approved",
            ),
            idempotency_key="float",
        )


def test_processing_an_event_twice_is_a_no_op(pipeline, make_player):
    assignment = PlanAssignmentFactory(plan=PlanFactory(kind=Plan.Kind.CPA))
    player = make_player(assignment.affiliate)
    pipeline.kyc(player.ref, "passed", T0)
    event_id = pipeline.deposit(player.ref, "50", T0)
    assert inbound_event_process(event_id=event_id) == "skipped"
    assert CommissionEntry.objects.count() == 1
