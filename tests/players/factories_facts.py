"""Factories for the player facts (deposits, revenue reports, trades, purchases, chargebacks).

They build rows directly, for tests that need history in place; tests of the recording rules
go through apps.players.services instead.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import factory

from apps.players.facts import Chargeback, Deposit, Purchase, RevenueReport, Trade
from tests.factories import PlayerFactory


class DepositFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Deposit

    player = factory.SubFactory(PlayerFactory)
    system = "payments"
    deposit_id = factory.Sequence(lambda n: f"D-{n}")
    amount = Decimal("50.00")
    currency = "EUR"
    occurred_at = factory.LazyFunction(lambda: datetime(2026, 11, 2, 10, 0, tzinfo=UTC))
    is_first = False


class RevenueReportFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RevenueReport

    player = factory.SubFactory(PlayerFactory)
    system = "crm"
    report_id = factory.Sequence(lambda n: f"R-{n}")
    date = date(2026, 11, 2)
    currency = "EUR"
    stakes = Decimal("1000.00")
    winnings = Decimal("920.00")
    occurred_at = factory.LazyFunction(lambda: datetime(2026, 11, 3, 1, 0, tzinfo=UTC))
    is_current = True


class TradeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Trade

    player = factory.SubFactory(PlayerFactory)
    system = "mt5-live"
    platform = Trade.Platform.MT5
    server = "live-1"
    deal_id = factory.Sequence(lambda n: str(9000000 + n))
    login = "800123"
    position_id = factory.Sequence(lambda n: str(7000000 + n))
    symbol = "EURUSD"
    volume_lots = Decimal("1.5")
    entry = Trade.Entry.OUT
    profit = Decimal("12.30")
    currency = "USD"
    closed_at = factory.LazyFunction(lambda: datetime(2026, 11, 2, 15, 0, tzinfo=UTC))


class PurchaseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Purchase

    player = factory.SubFactory(PlayerFactory)
    system = "crm"
    purchase_id = factory.Sequence(lambda n: f"P-{n}")
    product = "100k challenge"
    amount = Decimal("499.00")
    currency = "USD"
    purchased_at = factory.LazyFunction(lambda: datetime(2026, 11, 2, 9, 0, tzinfo=UTC))


class ChargebackFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Chargeback

    player = factory.SubFactory(PlayerFactory)
    system = "payments"
    chargeback_id = factory.Sequence(lambda n: f"CB-{n}")
    amount = Decimal("50.00")
    currency = "EUR"
    occurred_at = factory.LazyFunction(lambda: datetime(2026, 11, 20, 9, 0, tzinfo=UTC))
