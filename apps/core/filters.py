"""django-filter plumbing shared by selectors, the read API and the admin.

A FilterSet is applied in one place, the app's selector; the API passes query parameters to the
selector, and the admin reuses the same FilterSet through `filterset_list_filter`, so both
answer the same question with the same query.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import django_filters
from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django_filters.fields import IsoDateTimeField
from drf_spectacular.utils import extend_schema_field

BIGINT_MAX = 2**63 - 1


@extend_schema_field({"type": "string", "minLength": 1, "pattern": "^[^\\x00]+$"})
class TextFilter(django_filters.CharFilter):
    """A text filter documented as non-empty and NUL-free (both are refused with a 400: an empty
    value by filterset_apply, a NUL character by Django's form field)."""


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": BIGINT_MAX})
class IntegerFilter(django_filters.NumberFilter):
    """A whole-number filter on ids: "0.5" and values no bigint column holds are refused."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", BIGINT_MAX)
        super().__init__(*args, **kwargs)


class UtcIsoDateTimeField(IsoDateTimeField):
    """ISO 8601 times, converted to UTC: PostgreSQL refuses offsets Python accepts (over 15:59)."""

    def to_python(self, value):
        value = super().to_python(value)
        if value is None:
            return None
        try:
            return value.astimezone(dt.UTC)
        except (OverflowError, ValueError):
            # Within a few hours of year 1 or 9999: in UTC it lies beyond what datetime holds, and
            # no row is further out than the nearest bound, which therefore filters the same.
            bound = dt.datetime.min if value.year == 1 else dt.datetime.max
            return bound.replace(tzinfo=dt.UTC)


class IsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


class FilterError(ValueError):
    """Filter values that do not parse; `errors` maps each parameter to its messages."""

    def __init__(self, errors: Mapping[str, list[str]]):
        super().__init__("; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in errors.items()))
        self.errors = dict(errors)


def filterset_apply(
    filterset_class: type[django_filters.FilterSet], *, data: Mapping | None, queryset: QuerySet
) -> QuerySet:
    """The queryset narrowed by the filter values in `data` (unknown keys are ignored)."""
    filterset = filterset_class(data=data or {}, queryset=queryset)
    # A parameter given empty is a mistake, not "no filter" (django-filter would ignore it).
    empty = {
        name: ["Give a value or leave the parameter out."]
        for name in filterset.filters
        if data and name in data and data.get(name) == ""
    }
    if empty:
        raise FilterError(empty)
    if not filterset.is_valid():
        raise FilterError({name: [str(m) for m in msgs] for name, msgs in filterset.errors.items()})
    return filterset.qs


def filterset_list_filter(
    *, filterset_class: type[django_filters.FilterSet], name: str, title: str, lookups=None
) -> type[admin.SimpleListFilter]:
    """An admin list filter driven by one filter of a FilterSet (same parameter, same query).

    `lookups(request, model_admin)` gives the sidebar choices; without it only the value in use is
    shown, which suits filters reached by links (e.g. "events recovered by run #12").
    """

    class FilterSetListFilter(admin.SimpleListFilter):
        parameter_name = name

        def lookups(self, request, model_admin):
            if lookups is not None:
                return lookups(request, model_admin)
            value = self.value()
            return [(value, value)] if value else []

        def queryset(self, request, queryset):
            value = self.value()
            if not value:
                return queryset
            try:
                return filterset_apply(filterset_class, data={name: value}, queryset=queryset)
            except FilterError as exc:
                raise admin.options.IncorrectLookupParameters(str(exc)) from exc

    FilterSetListFilter.title = title
    FilterSetListFilter.__name__ = f"{filterset_class.__name__}_{name}_ListFilter"
    return FilterSetListFilter


def filterset_range_filter(
    *,
    filterset_class: type[django_filters.FilterSet],
    low: str,
    high: str,
    title: str,
    kind: str = "date",
) -> type[admin.ListFilter]:
    """An admin sidebar filter with two inputs ("from", "to") driving two filters of a FilterSet.

    kind="date": the inputs are calendar dates and the range is inclusive of both days (the
    FilterSet's time filters get midnight UTC of `from` and of the day after `to`);
    kind="number": plain decimal bounds, passed through.
    """

    class RangeListFilter(admin.ListFilter):
        template = "admin/filters/range.html"

        def __init__(self, request, params, model, model_admin):
            super().__init__(request, params, model, model_admin)
            self.values = {}
            for name in (low, high):
                if name in params:
                    value = params.pop(name)
                    self.values[name] = value[-1] if isinstance(value, list) else value
            self.query_string_params = {
                k: v[-1] if isinstance(v, list) else v
                for k, v in request.GET.items()
                if k not in (low, high)
            }

        def has_output(self):
            return True

        def expected_parameters(self):
            return [low, high]

        def choices(self, changelist):
            yield {
                "low": low,
                "high": high,
                "low_value": self.values.get(low, ""),
                "high_value": self.values.get(high, ""),
                "kind": kind,
                "others": self.query_string_params.items(),
                "selected": bool(self.values),
            }

        def queryset(self, request, queryset):
            data = {name: _bound(name, value) for name, value in self.values.items() if value}
            if not data:
                return queryset
            try:
                return filterset_apply(filterset_class, data=data, queryset=queryset)
            except (FilterError, ValueError) as exc:
                raise admin.options.IncorrectLookupParameters(str(exc)) from exc

    def _bound(name: str, value: str) -> str:
        if kind != "date":
            return value
        day = dt.date.fromisoformat(value)
        if name == high:
            day += dt.timedelta(days=1)
        return f"{day.isoformat()}T00:00:00Z"

    RangeListFilter.title = title
    RangeListFilter.__name__ = f"{filterset_class.__name__}_{low}_{high}_RangeFilter"
    return RangeListFilter
