"""Formatting of health figures: 'no data' for None, units, one decimal for milliseconds."""

from __future__ import annotations

from decimal import Decimal

from django import template

register = template.Library()


@register.filter
def figure(value, unit: str = "") -> str:
    if value is None:
        return "no data"
    if unit == "ms":
        return f"{float(value):,.1f} ms"
    if unit in ("%", "pt"):
        return f"{Decimal(value):,.2f} {unit}"
    return f"{value:,}" if isinstance(value, int) else str(value)


@register.filter
def latency(inbound, p) -> float | None:
    return inbound.latency(float(p))
