"""FilterSets over the commission ledger and statements, shared by the read API, the admin and
exports through apps/commissions/selectors.py."""

from __future__ import annotations

import datetime as dt
import re

import django_filters
from django import forms
from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field

from apps.commissions.models import CommissionEntry, Statement
from apps.core.filters import IntegerFilter, IsoDateTimeFilter, TextFilter

_PERIOD_PATTERN = r"^([1-9][0-9]{3})-(0[1-9]|1[0-2])(-01)?$"
_PERIOD_RE = re.compile(_PERIOD_PATTERN)


class PeriodField(forms.Field):
    """A statement period: `2026-11` or its first day `2026-11-01` (what the admin links use)."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        match = _PERIOD_RE.match(str(value).strip())
        if match is None:
            raise forms.ValidationError("Give a month as YYYY-MM (or its first day, YYYY-MM-01).")
        return dt.date(int(match[1]), int(match[2]), 1)


@extend_schema_field({"type": "string", "pattern": _PERIOD_PATTERN, "example": "2026-11"})
class PeriodFilter(django_filters.Filter):
    field_class = PeriodField


@extend_schema_field({"type": "string", "pattern": "^[A-Za-z]{3,4}$", "example": "EUR"})
class CurrencyFilter(TextFilter):
    """ISO 4217 (or USDT), any case."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault(
            "validators", [RegexValidator(r"^[A-Za-z]{3,4}$", "Give a currency code, e.g. EUR.")]
        )
        super().__init__(*args, **kwargs)

    def filter(self, qs, value):
        return super().filter(qs, value.upper() if value else value)


class CommissionEntryFilter(django_filters.FilterSet):
    affiliate = IntegerFilter(field_name="affiliate_id", help_text="Affiliate id.")
    player = IntegerFilter(field_name="player_id", help_text="Player id.")
    kind = django_filters.ChoiceFilter(choices=CommissionEntry.Kind.choices)
    status = django_filters.ChoiceFilter(choices=CommissionEntry.Status.choices)
    period = PeriodFilter(field_name="period", help_text="Accrual period, YYYY-MM.")
    statement_period = PeriodFilter(
        field_name="statement_period",
        help_text="The period whose statement carries the line, YYYY-MM.",
    )
    currency = CurrencyFilter(field_name="currency", help_text="ISO 4217, e.g. EUR.")
    created_after = IsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte", help_text="created_at >= this ISO 8601 time."
    )
    created_before = IsoDateTimeFilter(
        field_name="created_at", lookup_expr="lt", help_text="created_at < this ISO 8601 time."
    )

    class Meta:
        model = CommissionEntry
        fields = [
            "affiliate",
            "player",
            "kind",
            "status",
            "period",
            "statement_period",
            "currency",
            "created_after",
            "created_before",
        ]


class StatementFilter(django_filters.FilterSet):
    affiliate = IntegerFilter(field_name="affiliate_id", help_text="Affiliate id.")
    period = PeriodFilter(field_name="period", help_text="Statement period, YYYY-MM.")
    status = django_filters.ChoiceFilter(choices=Statement.Status.choices)
    currency = CurrencyFilter(field_name="currency", help_text="ISO 4217, e.g. EUR.")
    created_after = IsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte", help_text="created_at >= this ISO 8601 time."
    )
    created_before = IsoDateTimeFilter(
        field_name="created_at", lookup_expr="lt", help_text="created_at < this ISO 8601 time."
    )

    class Meta:
        model = Statement
        fields = ["affiliate", "period", "status", "currency", "created_after", "created_before"]
