"""FX rates: which published rate applies at a time, and converting with it (DOMAIN.md "Money").

A conversion always carries its rate, source and publication time, which the payout stores.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import transaction

from apps.core.audit import audit_record
from apps.core.fx import FxQuote, FxRateMissing
from apps.core.money import to_decimal
from apps.payouts.models import FxRate

# One quote type and one "missing" error for every app (commissions converts CPA deposits too).
__all__ = ["FxQuote", "FxRateMissing", "fx_quote", "fx_rate_record"]


def fx_quote(*, base: str, quote: str, at: dt.datetime) -> FxQuote:
    """The latest rate for base -> quote published at or before `at`.

    Same currency: rate 1 ("identity"). Only the direct pair is used: inverting or crossing
    rates would produce a figure nobody published, and both sides must use the same figure.
    """
    base, quote = base.upper(), quote.upper()
    if base == quote:
        return FxQuote(base, quote, Decimal(1), "identity", at)
    row = (
        FxRate.objects.filter(base=base, quote=quote, as_of__lte=at)
        .order_by("-as_of", "-id")
        .first()
    )
    if row is None:
        raise FxRateMissing(
            f"No {base}->{quote} rate published at or before {at:%Y-%m-%d %H:%M} UTC."
        )
    return FxQuote(base, quote, row.rate, row.source, row.as_of)


def fx_rate_record(
    *, base: str, quote: str, rate, source: str, as_of: dt.datetime, acting_user=None
) -> FxRate:
    """Publish a rate (idempotent on base, quote, as_of, source)."""
    rate = to_decimal(rate)
    if rate <= 0:
        raise ValueError("A rate is positive.")
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware.")
    with transaction.atomic():
        row, created = FxRate.objects.get_or_create(
            base=base.upper(),
            quote=quote.upper(),
            as_of=as_of,
            source=source,
            defaults={"rate": rate},
        )
        if created:
            audit_record(
                action="fx_rate.recorded",
                instance=row,
                actor=acting_user,
                actor_label="" if acting_user else "system",
                after={
                    "base": row.base,
                    "quote": row.quote,
                    "rate": str(rate),
                    "source": source,
                    "as_of": as_of.isoformat(),
                },
            )
    return row
