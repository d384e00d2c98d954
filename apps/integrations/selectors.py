"""Reads over the inbound event store and reconciliation runs."""

from __future__ import annotations

from collections.abc import Mapping

from django.db.models import QuerySet

from apps.core.filters import filterset_apply
from apps.integrations.filters import InboundEventFilter
from apps.integrations.models import InboundEvent


def inbound_event_list(
    *, filters: Mapping | None = None, queryset: QuerySet | None = None
) -> QuerySet:
    """Inbound events narrowed by InboundEventFilter (raises FilterError on bad values)."""
    base = InboundEvent.objects.select_related("integration") if queryset is None else queryset
    return filterset_apply(InboundEventFilter, data=filters, queryset=base)
