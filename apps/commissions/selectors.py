"""Reads over the commission ledger and statements. Filters come from apps/commissions/filters.py,
applied here only, so the read API, the admin and exports answer with the same query."""

from __future__ import annotations

from collections.abc import Mapping

from django.db.models import Prefetch, QuerySet

from apps.commissions.filters import CommissionEntryFilter, StatementFilter
from apps.commissions.models import CommissionEntry, Statement, StatementLine
from apps.core.filters import filterset_apply


def commission_entry_list(
    *, filters: Mapping | None = None, queryset: QuerySet | None = None
) -> QuerySet:
    """Ledger rows narrowed by CommissionEntryFilter; FilterError on bad values."""
    base = CommissionEntry.objects.all() if queryset is None else queryset
    return filterset_apply(CommissionEntryFilter, data=filters, queryset=base)


def statement_list(*, filters: Mapping | None = None, queryset: QuerySet | None = None) -> QuerySet:
    """Statements narrowed by StatementFilter, each with its lines (one extra query per page)."""
    base = Statement.objects.all() if queryset is None else queryset
    lines = Prefetch("lines", queryset=StatementLine.objects.order_by("kind", "plan_id", "id"))
    return filterset_apply(StatementFilter, data=filters, queryset=base).prefetch_related(lines)
