"""Recording player facts: idempotency on natural keys, hub-detected firsts, restatements."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from apps.core.models import AuditLog
from apps.players.facts import Chargeback, Deposit, Purchase, RevenueReport, Trade
from apps.players.services import (
    FactError,
    PurchaseNotFound,
    chargeback_record,
    deposit_record,
    purchase_record,
    purchase_refund,
    revenue_report_record,
    trade_record,
)
from tests.factories import PlayerFactory
from tests.players.factories_facts import DepositFactory, RevenueReportFactory, TradeFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
DAY = date(2026, 11, 2)


def record_deposit(
    player, deposit_id, occurred_at, amount="25.00", system="payments", event_id=None
):
    return deposit_record(
        player=player,
        system=system,
        deposit_id=deposit_id,
        amount=Decimal(amount),
        currency="EUR",
        occurred_at=occurred_at,
        source_event_id=event_id,
    )


def record_report(
    player, report_id, occurred_at, stakes="1000", winnings="900", day=DAY, event_id=None, **extra
):
    return revenue_report_record(
        player=player,
        system="crm",
        report_id=report_id,
        date=day,
        currency="EUR",
        stakes=Decimal(stakes),
        winnings=Decimal(winnings),
        occurred_at=occurred_at,
        source_event_id=event_id,
        **extra,
    )


def record_trade(player, deal_id, server="live-1", event_id=None, **overrides):
    values = dict(
        player=player,
        system="mt5-live",
        platform="mt5",
        server=server,
        login="800123",
        deal_id=deal_id,
        position_id="P-1",
        symbol="EURUSD",
        volume_lots=Decimal("0.50"),
        entry="out",
        profit=Decimal("-3.20"),
        currency="USD",
        closed_at=T0,
        source_event_id=event_id,
    )
    values.update(overrides)
    return trade_record(**values)


def record_purchase(player, purchase_id, purchased_at, amount="499.00", event_id=None):
    return purchase_record(
        player=player,
        system="crm",
        purchase_id=purchase_id,
        product="100k challenge",
        amount=Decimal(amount),
        currency="USD",
        purchased_at=purchased_at,
        source_event_id=event_id,
    )


# --- deposits ---------------------------------------------------------------------------------


def test_first_deposit_is_detected_from_history_not_from_the_sender():
    player = PlayerFactory()

    first = record_deposit(player, "D-1", T0, event_id=11)
    second = record_deposit(player, "D-2", T0 + timedelta(days=1), event_id=12)

    assert first.created and first.ftd_changed and first.previous_first is None
    assert second.created and not second.ftd_changed
    assert [
        (d.deposit_id, d.is_first)
        for d in Deposit.objects.filter(player=player).order_by("occurred_at")
    ] == [
        ("D-1", True),
        ("D-2", False),
    ]
    assert Deposit.objects.recorded_by(11).get().deposit_id == "D-1"


def test_a_late_deposit_that_happened_earlier_takes_over_the_first_deposit_flag():
    player = PlayerFactory()
    record_deposit(player, "D-later", T0)

    result = record_deposit(player, "D-earlier", T0 - timedelta(hours=3))

    assert result.created and result.ftd_changed
    assert result.previous_first.deposit_id == "D-later"
    assert result.deposit.is_first
    flags = dict(Deposit.objects.filter(player=player).values_list("deposit_id", "is_first"))
    assert flags == {"D-later": False, "D-earlier": True}
    move = AuditLog.objects.get(action="deposit.ftd_moved")
    assert move.object_id == str(result.deposit.pk)


def test_deposit_at_the_same_time_as_the_first_keeps_the_existing_flag():
    player = PlayerFactory()
    record_deposit(player, "D-1", T0)

    result = record_deposit(player, "D-2", T0)

    assert not result.ftd_changed
    assert Deposit.objects.get(is_first=True, player=player).deposit_id == "D-1"


def test_first_deposit_is_per_player():
    alice, bob = PlayerFactory(), PlayerFactory()
    record_deposit(alice, "A-1", T0)

    result = record_deposit(bob, "B-1", T0 + timedelta(days=5))

    assert result.ftd_changed
    assert Deposit.objects.filter(is_first=True).count() == 2


def test_recording_the_same_deposit_twice_stores_one_row():
    player = PlayerFactory()
    first = record_deposit(player, "D-1", T0, event_id=1)

    again = record_deposit(player, "D-1", T0, event_id=2)

    assert not again.created and not again.ftd_changed
    assert again.deposit.pk == first.deposit.pk
    assert Deposit.objects.count() == 1
    assert Deposit.objects.get().source_event_id == 1
    assert not Deposit.objects.recorded_by(2).exists()


def test_the_same_deposit_id_from_another_system_is_another_deposit():
    player = PlayerFactory()
    record_deposit(player, "D-1", T0, system="payments")
    record_deposit(player, "D-1", T0, system="crm")

    assert Deposit.objects.filter(player=player).count() == 2


def test_a_deposit_id_already_recorded_for_another_player_is_refused():
    record_deposit(PlayerFactory(), "D-1", T0)

    with pytest.raises(FactError, match="another player"):
        record_deposit(PlayerFactory(), "D-1", T0)


@pytest.mark.parametrize(
    ("amount", "occurred_at", "message"),
    [
        ("0", T0, "greater than zero"),
        ("-5", T0, "greater than zero"),
        (12.5, T0, "float"),
        ("12.50", datetime(2026, 11, 2, 12, 0), "timezone-aware"),  # a naive time
    ],
)
def test_deposit_input_is_checked_before_anything_is_written(amount, occurred_at, message):
    with pytest.raises(FactError, match=message):
        deposit_record(
            player=PlayerFactory(),
            system="payments",
            deposit_id="D-1",
            amount=amount,
            currency="EUR",
            occurred_at=occurred_at,
            source_event_id=None,
        )
    assert not Deposit.objects.exists()


def test_database_refuses_a_second_first_deposit_and_a_non_positive_amount():
    player = PlayerFactory()
    DepositFactory(player=player, is_first=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        DepositFactory(player=player, is_first=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        DepositFactory(amount=Decimal(0))


def test_deposit_record_inside_an_open_transaction_keeps_it_usable():
    player = PlayerFactory()
    with transaction.atomic():  # as the event processor does
        record_deposit(player, "D-1", T0)
        with pytest.raises(FactError):
            record_deposit(PlayerFactory(), "D-1", T0)
        record_deposit(player, "D-2", T0 + timedelta(hours=1))
    assert Deposit.objects.filter(player=player).count() == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_of_deposits_store_each_once_with_one_first_deposit():
    player = PlayerFactory()
    barrier = threading.Barrier(4)
    results, errors = [], []

    def deliver(deposit_id, occurred_at):
        try:
            barrier.wait(timeout=10)
            with transaction.atomic():
                results.append(record_deposit(player, deposit_id, occurred_at))
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=deliver, args=args)
        for args in [
            ("D-1", T0),
            ("D-1", T0),
            ("D-2", T0 - timedelta(hours=1)),
            ("D-2", T0 - timedelta(hours=1)),
        ]
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert sorted(r.deposit.deposit_id for r in results if r.created) == ["D-1", "D-2"]
    assert dict(Deposit.objects.values_list("deposit_id", "is_first")) == {
        "D-1": False,
        "D-2": True,
    }


# --- revenue ----------------------------------------------------------------------------------


def test_first_report_for_a_day_is_current_and_ggr_is_stakes_minus_winnings():
    player = PlayerFactory()

    result = record_report(
        player,
        "R-1",
        T0,
        stakes="100000",
        winnings="92000",
        bonuses=Decimal("1500"),
        taxes=Decimal("1200"),
    )

    report = RevenueReport.objects.get()
    assert result.created and result.is_current and result.superseded is None
    assert report.is_current and report.superseded_by is None
    assert report.ggr == Decimal("8000")
    assert (report.bonuses, report.taxes, report.jackpot_contributions) == (
        Decimal(1500),
        Decimal(1200),
        Decimal(0),
    )
    annotated = RevenueReport.objects.annotate(ggr_sql=RevenueReport.ggr_expression()).get()
    assert annotated.ggr_sql == Decimal("8000")


def test_a_later_report_for_the_same_player_and_day_restates_it_and_keeps_history():
    player = PlayerFactory()
    original = record_report(player, "R-1", T0, stakes="1000", winnings="900").report

    restated = record_report(player, "R-2", T0 + timedelta(hours=6), stakes="1000", winnings="950")

    original.refresh_from_db()
    assert restated.created and restated.is_current
    assert restated.superseded.pk == original.pk
    assert not original.is_current and original.superseded_by_id == restated.report.pk
    current = RevenueReport.objects.get(player=player, date=DAY, is_current=True)
    assert current.report_id == "R-2" and current.ggr == Decimal("50")
    assert RevenueReport.objects.filter(player=player, date=DAY).count() == 2
    assert AuditLog.objects.filter(
        action="revenue_report.restated", object_id=str(current.pk)
    ).exists()


def test_a_late_report_older_than_the_current_one_is_history_only():
    player = PlayerFactory()
    newest = record_report(player, "R-new", T0 + timedelta(hours=6), winnings="950").report

    late = record_report(player, "R-old", T0, winnings="900")

    assert late.created and not late.is_current and late.superseded is None
    assert late.report.superseded_by_id == newest.pk
    newest.refresh_from_db()
    assert newest.is_current
    assert RevenueReport.objects.get(player=player, date=DAY, is_current=True).report_id == "R-new"


def test_reports_for_other_days_or_players_do_not_restate_each_other():
    alice, bob = PlayerFactory(), PlayerFactory()
    record_report(alice, "R-1", T0)
    record_report(alice, "R-2", T0, day=DAY + timedelta(days=1))
    record_report(bob, "R-3", T0)

    assert RevenueReport.objects.filter(is_current=True).count() == 3


def test_the_same_report_twice_is_one_row_and_changes_nothing():
    player = PlayerFactory()
    record_report(player, "R-1", T0, winnings="900")

    again = record_report(player, "R-1", T0 + timedelta(hours=1), winnings="1")

    assert not again.created and again.is_current
    report = RevenueReport.objects.get()
    assert report.winnings == Decimal("900") and report.is_current


def test_database_allows_one_current_report_per_player_and_day():
    existing = RevenueReportFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        RevenueReportFactory(player=existing.player, date=existing.date)


# --- trades -----------------------------------------------------------------------------------


def test_trade_is_idempotent_on_platform_server_and_deal():
    player = PlayerFactory()
    first = record_trade(player, "5001", event_id=21)

    again = record_trade(player, "5001", event_id=22)
    other_server = record_trade(player, "5001", server="live-2", event_id=23)

    assert first.created and not again.created and other_server.created
    assert again.trade.pk == first.trade.pk
    assert Trade.objects.count() == 2
    trade = Trade.objects.recorded_by(21).get()
    assert (trade.volume_lots, trade.profit, trade.swap, trade.commission, trade.price) == (
        Decimal("0.5"),
        Decimal("-3.2"),
        Decimal(0),
        Decimal(0),
        None,
    )


def test_trade_keeps_optional_figures_and_refuses_negative_volume():
    player = PlayerFactory()
    result = record_trade(
        player,
        "5002",
        opened_at=T0 - timedelta(minutes=5),
        swap=Decimal("-0.12"),
        commission=Decimal("-7"),
        price=Decimal("1.08345"),
        entry="inout",
    )
    assert result.trade.price == Decimal("1.08345") and result.trade.entry == Trade.Entry.INOUT

    with pytest.raises(FactError, match="negative"):
        record_trade(player, "5003", volume_lots=Decimal("-1"))
    with pytest.raises(FactError, match="platform"):
        record_trade(player, "5004", platform="mt6")
    with pytest.raises(IntegrityError), transaction.atomic():
        TradeFactory(volume_lots=Decimal("-0.01"))


# --- purchases --------------------------------------------------------------------------------


def test_first_purchase_is_detected_and_moves_to_an_earlier_late_purchase():
    player = PlayerFactory()
    later = record_purchase(player, "P-2", T0)
    assert later.first_changed and later.purchase.is_first_purchase

    earlier = record_purchase(player, "P-1", T0 - timedelta(days=1))

    assert earlier.first_changed and earlier.previous_first.purchase_id == "P-2"
    flags = dict(Purchase.objects.values_list("purchase_id", "is_first_purchase"))
    assert flags == {"P-1": True, "P-2": False}
    third = record_purchase(player, "P-3", T0 + timedelta(days=1))
    assert not third.first_changed and not third.purchase.is_first_purchase


def test_purchase_twice_is_one_row():
    player = PlayerFactory()
    record_purchase(player, "P-1", T0)
    again = record_purchase(player, "P-1", T0)
    assert not again.created and Purchase.objects.count() == 1


def test_refund_marks_the_purchase_once():
    player = PlayerFactory()
    record_purchase(player, "P-1", T0, event_id=31)

    refund = purchase_refund(
        player=player,
        system="crm",
        purchase_id="P-1",
        amount=Decimal("499.00"),
        currency="USD",
        refunded_at=T0 + timedelta(days=3),
        source_event_id=32,
    )
    again = purchase_refund(
        player=player,
        system="crm",
        purchase_id="P-1",
        amount=Decimal("499.00"),
        currency="USD",
        refunded_at=T0 + timedelta(days=4),
        source_event_id=33,
    )

    purchase = Purchase.objects.get()
    assert refund.refunded and not again.refunded
    assert purchase.status == Purchase.Status.REFUNDED and purchase.is_refunded
    assert purchase.refunded_at == T0 + timedelta(days=3)
    assert purchase.refund_amount == Decimal("499.00")
    assert purchase.refund_source_event_id == 32 and purchase.source_event_id == 31
    assert AuditLog.objects.filter(action="purchase.refunded").count() == 1


def test_refund_of_an_unknown_purchase_is_a_domain_error():
    with pytest.raises(PurchaseNotFound, match="crm:P-404"):
        purchase_refund(
            player=PlayerFactory(),
            system="crm",
            purchase_id="P-404",
            amount=Decimal("1"),
            currency="USD",
            refunded_at=T0,
            source_event_id=None,
        )


def test_refund_that_does_not_match_the_purchase_is_refused():
    player = PlayerFactory()
    record_purchase(player, "P-1", T0, amount="100")
    for kwargs, message in [
        ({"currency": "EUR", "amount": Decimal("100"), "player": player}, "EUR"),
        ({"currency": "USD", "amount": Decimal("100.01"), "player": player}, "exceeds"),
        (
            {"currency": "USD", "amount": Decimal("100"), "player": PlayerFactory()},
            "another player",
        ),
    ]:
        with pytest.raises(FactError, match=message):
            purchase_refund(
                system="crm", purchase_id="P-1", refunded_at=T0, source_event_id=None, **kwargs
            )
    assert Purchase.objects.get().status == Purchase.Status.PURCHASED


# --- chargebacks ------------------------------------------------------------------------------


def test_chargeback_links_the_deposit_it_names():
    player = PlayerFactory()
    deposit = record_deposit(player, "D-1", T0).deposit

    result = chargeback_record(
        player=player,
        system="payments",
        chargeback_id="CB-1",
        amount=Decimal("25.00"),
        currency="EUR",
        occurred_at=T0 + timedelta(days=20),
        deposit_external_id="D-1",
        reason="fraud",
        source_event_id=41,
    )

    assert result.created
    chargeback = Chargeback.objects.recorded_by(41).get()
    assert chargeback.deposit_id == deposit.pk and chargeback.deposit_external_id == "D-1"
    assert chargeback.reason == "fraud"


def test_chargeback_before_its_deposit_is_linked_when_the_deposit_arrives():
    player = PlayerFactory()
    chargeback_record(
        player=player,
        system="payments",
        chargeback_id="CB-1",
        amount=Decimal("25.00"),
        currency="EUR",
        occurred_at=T0 + timedelta(days=20),
        deposit_external_id="D-1",
        source_event_id=None,
    )
    assert Chargeback.objects.get().deposit is None

    deposit = record_deposit(player, "D-1", T0).deposit

    assert Chargeback.objects.get().deposit_id == deposit.pk


def test_chargeback_does_not_link_another_players_deposit_and_is_idempotent():
    player = PlayerFactory()
    record_deposit(PlayerFactory(), "D-1", T0)
    kwargs = dict(
        player=player,
        system="payments",
        chargeback_id="CB-1",
        amount=Decimal("25.00"),
        currency="EUR",
        occurred_at=T0,
        deposit_external_id="D-1",
        source_event_id=None,
    )

    first = chargeback_record(**kwargs)
    again = chargeback_record(**kwargs)

    assert first.created and not again.created
    assert Chargeback.objects.count() == 1
    assert Chargeback.objects.get().deposit is None


def test_chargeback_links_a_deposit_reported_by_another_system_when_unambiguous():
    player = PlayerFactory()
    deposit = record_deposit(player, "TX-9", T0, system="crm").deposit

    chargeback_record(
        player=player,
        system="payments",
        chargeback_id="CB-1",
        amount=Decimal("25.00"),
        currency="EUR",
        occurred_at=T0,
        deposit_external_id="TX-9",
        source_event_id=None,
    )

    assert Chargeback.objects.get().deposit_id == deposit.pk
