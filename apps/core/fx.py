"""FX quotes for the apps below payouts (DOMAIN.md "Money", "Controls": currency).

The FX table (`apps.payouts.models.FxRate`) belongs to payouts, which sits above commissions in
the import layers. Commissions needs the same figures for CPA thresholds, so the lookup is
published here and the payouts app plugs its table in at startup (`fx_rate_source_register` in
PayoutsConfig.ready), the way domain apps plug their handlers into integrations. One lookup, one
rule: the latest rate for the direct pair published at or before the time asked; the same
currency is rate 1; no inverted or crossed rates.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from apps.core.money import round_money

ONE = Decimal(1)


class FxRateMissing(LookupError):
    """No published rate for a currency pair at the time asked."""


@dataclass(frozen=True)
class FxQuote:
    base: str
    quote: str
    rate: Decimal
    source: str
    as_of: dt.datetime

    def convert(self, amount: Decimal, *, rounding: str = "half_even") -> Decimal:
        """`amount` in base -> quote, rounded once to the quote currency's minor unit."""
        return round_money(amount * self.rate, self.quote, rounding)

    def describe(self) -> dict:
        return {
            "base": self.base,
            "quote": self.quote,
            "rate": str(self.rate),
            "source": self.source,
            "as_of": self.as_of.isoformat(),
        }


_source: Callable[..., FxQuote] | None = None


def fx_rate_source_register(lookup: Callable[..., FxQuote]) -> None:
    """Install the FX table's lookup: `lookup(base=, quote=, at=) -> FxQuote`, raising
    FxRateMissing."""
    global _source
    _source = lookup


def fx_quote(*, base: str, quote: str, at: dt.datetime) -> FxQuote:
    """The rate for base -> quote in force at `at` (see module docstring)."""
    base, quote = base.upper(), quote.upper()
    if base == quote:
        return FxQuote(base, quote, ONE, "identity", at)
    if _source is None:
        raise FxRateMissing("No FX table is installed.")
    return _source(base=base, quote=quote, at=at)
