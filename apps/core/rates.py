"""Rates shown to people (dashboard, retention reports): one definition, one rounding."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

_HUNDREDTH = Decimal("0.01")


def rate(part: int, whole: int) -> Decimal | None:
    """part / whole in percent, two places (half-even); None when there is nothing to rate."""
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(_HUNDREDTH, rounding=ROUND_HALF_EVEN)
