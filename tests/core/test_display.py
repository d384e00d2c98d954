"""Money reads as money: the currency's precision, thousands separators, the code beside it."""

from decimal import Decimal

import pytest
from django.template import Context, Template

from apps.core.display import format_amount, format_money, format_percent, format_rate, money_column


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        (Decimal("24.47000000"), "USD", "24.47 USD"),
        (Decimal("1259.685"), "USD", "1,259.68 USD"),  # half-even, as the ledger rounds
        (Decimal("1259.695"), "USD", "1,259.70 USD"),
        (Decimal("100"), "EUR", "100.00 EUR"),
        (Decimal("-2160.004"), "EUR", "-2,160.00 EUR"),
        (Decimal("15000.4"), "JPY", "15,000 JPY"),
        (Decimal("0.1255"), "BHD", "0.126 BHD"),
        (Decimal("12.3456789"), "USDT", "12.345679 USDT"),
        (None, "EUR", "—"),
    ],
)
def test_amounts_show_their_currency_precision(amount, currency, shown):
    assert format_money(amount, currency) == shown


def test_the_number_alone_for_exports_and_without_a_currency():
    assert format_amount(Decimal("1234.5"), "EUR") == "1,234.50"
    assert format_money(Decimal("1234.5"), None) == "1,234.50"


def test_percentages_and_rates():
    assert format_percent(Decimal("40.0000")) == "40.00 %"
    assert format_rate(Decimal("1.085")) == "1.0850"
    assert format_percent(None) == "—"


def test_the_template_filters():
    html = Template("{% load money %}{{ a|money:c }} {{ p|percent }} {{ r|fxrate }}").render(
        Context(
            {"a": Decimal("100.00000000"), "c": "EUR", "p": Decimal("2.5"), "r": Decimal("1.1")}
        )
    )
    assert html == "100.00 EUR 2.50 % 1.1000"


def test_an_admin_column_shows_the_amount_with_its_currency_and_sorts_by_the_amount():
    class Line:
        amount = Decimal("24.47000000")
        currency = "USD"

    column = money_column("amount")
    assert column(Line()) == "24.47 USD"

    class SomeAdmin:
        amount_display = money_column("amount")

    assert SomeAdmin().amount_display(Line()) == "24.47 USD"
    assert column.admin_order_field == "amount"
    assert column.short_description == "Amount"
