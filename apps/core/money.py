"""Money: Decimal only, ISO 4217 minor units, one rounding helper (DOMAIN.md "Money")."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, InvalidOperation

from django.db import models

LEDGER_MAX_DIGITS = 20
LEDGER_DECIMAL_PLACES = 8

# Currencies whose minor unit is not 2 decimal places.
_EXPONENTS = {
    **dict.fromkeys(("JPY", "KRW", "VND", "CLP", "ISK", "UGX", "XAF", "XOF", "PYG"), 0),
    **dict.fromkeys(("BHD", "KWD", "OMR", "TND", "JOD", "IQD", "LYD"), 3),
    # Crypto settlement currencies used for payouts.
    "USDT": 6,
    "USDC": 6,
}

ROUNDING_MODES = {"half_even": ROUND_HALF_EVEN, "half_up": ROUND_HALF_UP}


class RoundingMode(models.TextChoices):
    HALF_EVEN = "half_even", "Half even (banker's)"
    HALF_UP = "half_up", "Half up"


class MoneyError(ValueError):
    pass


def currency_exponent(currency: str) -> int:
    return _EXPONENTS.get(currency.upper(), 2)


def to_decimal(value: object) -> Decimal:
    """Parse an amount without ever passing through float."""
    if isinstance(value, float):
        raise MoneyError("Amounts must not be floats.")
    try:
        result = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise MoneyError(f"Not a decimal amount: {value!r}") from exc
    if not result.is_finite():
        raise MoneyError(f"Not a finite amount: {value!r}")
    return result


def round_money(amount: Decimal, currency: str, mode: str = RoundingMode.HALF_EVEN) -> Decimal:
    """Round once, to the currency's minor unit. 1259.685 USD -> 1259.68 half-even, 1259.69
    half-up."""
    quantum = Decimal(1).scaleb(-currency_exponent(currency))
    return amount.quantize(quantum, rounding=ROUNDING_MODES[mode])


class MoneyField(models.DecimalField):
    """A ledger-precision amount. Always paired with a currency column on the model."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_digits", LEDGER_MAX_DIGITS)
        kwargs.setdefault("decimal_places", LEDGER_DECIMAL_PLACES)
        super().__init__(*args, **kwargs)


class CurrencyField(models.CharField):
    """ISO 4217 code (plus a few settlement tokens such as USDT)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_length", 4)
        super().__init__(*args, **kwargs)
