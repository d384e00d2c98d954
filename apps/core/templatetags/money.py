"""{% load money %}: {{ amount|money:currency }}, {{ value|percent }}, {{ rate|fxrate }}."""

from django import template

from apps.core.display import format_money, format_percent, format_rate

register = template.Library()


@register.filter
def money(amount, currency=None) -> str:
    return format_money(amount, currency)


@register.filter
def percent(value, places=2) -> str:
    return format_percent(value, int(places))


@register.filter
def fxrate(value, places=4) -> str:
    return format_rate(value, int(places))
