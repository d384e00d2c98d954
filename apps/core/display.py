"""One way to show money, rates and percentages: lists, details, reports, exports, the health page.

Amounts are shown rounded (half-even) to their currency's minor unit, with thousands separators
and the currency code after them: "1,259.68 USD", "1,000 JPY", "0.125 BHD". Ledger rows keep
8 decimal places; only what is shown is rounded.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from apps.core.money import currency_exponent

EMPTY = "—"


def _decimal(value) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def format_amount(amount, currency: str | None) -> str:
    """The number alone, at the currency's precision (exports put the code in its own column)."""
    value = _decimal(amount)
    if value is None:
        return EMPTY
    places = currency_exponent(currency or "")
    value = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    return f"{value:,.{places}f}"


def format_money(amount, currency: str | None) -> str:
    """'1,259.68 USD'; '—' for no amount."""
    text = format_amount(amount, currency)
    return text if text == EMPTY or not currency else f"{text} {currency}"


def format_percent(value, places: int = 2) -> str:
    """A percentage already in percent units (30 -> '30.00 %')."""
    number = _decimal(value)
    return EMPTY if number is None else f"{number:,.{places}f} %"


def format_rate(value, places: int = 4) -> str:
    """An FX rate or a lot rate: fixed places, no trailing noise ('1.0850')."""
    number = _decimal(value)
    return EMPTY if number is None else f"{number:,.{places}f}"


def money_column(
    amount_field: str, currency_field: str = "currency", *, description: str | None = None
):
    """A list_display column showing `amount_field` with `currency_field`, sortable by the amount.

    money_column("amount") -> "Amount" column: "1,259.68 USD". Assign it as a ModelAdmin attribute
    (`amount_display = money_column("amount")`) and name it in list_display; as a method it is
    called with the admin first, as a plain function with the row alone.
    """

    from django.contrib import admin  # here, not at import: models use the formatters above

    @admin.display(
        description=description or amount_field.replace("_", " ").capitalize(),
        ordering=amount_field,
    )
    def column(*args):
        obj = args[-1]
        return format_money(getattr(obj, amount_field), _currency(obj, currency_field))

    column.__name__ = f"{amount_field}_display"
    return column


def _currency(obj, path: str) -> str | None:
    for part in path.split("__"):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj
