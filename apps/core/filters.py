"""django-filter plumbing shared by selectors, the read API and the admin.

A FilterSet is applied in one place, the app's selector; the API passes query parameters to the
selector, and the admin reuses the same FilterSet through `filterset_list_filter`, so both
answer the same question with the same query.
"""

from __future__ import annotations

from collections.abc import Mapping

import django_filters
from django.contrib import admin
from django.db.models import QuerySet


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
