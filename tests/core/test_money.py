from decimal import Decimal

import pytest

from apps.core.money import MoneyError, currency_exponent, round_money, to_decimal


def test_domain_example_rounds_half_even_and_half_up():
    converted = Decimal("1161.00") * Decimal("1.0850")
    assert converted == Decimal("1259.685")
    assert round_money(converted, "USD") == Decimal("1259.68")
    assert round_money(converted, "USD", "half_up") == Decimal("1259.69")


@pytest.mark.parametrize(
    ("currency", "exponent"),
    [("EUR", 2), ("JPY", 0), ("KRW", 0), ("BHD", 3), ("KWD", 3), ("usd", 2)],
)
def test_currency_exponents_follow_iso_4217(currency, exponent):
    assert currency_exponent(currency) == exponent


def test_round_to_minor_unit_of_zero_and_three_decimal_currencies():
    assert round_money(Decimal("1234.5"), "JPY") == Decimal("1234")
    assert round_money(Decimal("1235.5"), "JPY") == Decimal("1236")
    assert round_money(Decimal("1.23456"), "KWD") == Decimal("1.235")


def test_floats_and_garbage_are_refused():
    with pytest.raises(MoneyError):
        to_decimal(0.1)
    with pytest.raises(MoneyError):
        to_decimal("abc")
    with pytest.raises(MoneyError):
        to_decimal("NaN")
    assert to_decimal("10.50") == Decimal("10.50")
