"""FilterSets over the inbound event store and reconciliation runs (shared by API and admin)."""

from __future__ import annotations

import django_filters

from apps.core.filters import IntegerFilter, IsoDateTimeFilter, TextFilter
from apps.integrations.models import EventSource, EventStatus, InboundEvent, ReconciliationRun


class InboundEventFilter(django_filters.FilterSet):
    integration = TextFilter(field_name="integration__slug", help_text="Integration slug.")
    type = TextFilter(field_name="event_type", help_text="Event type, e.g. deposit.created.")
    status = django_filters.ChoiceFilter(choices=EventStatus.choices)
    source = django_filters.ChoiceFilter(choices=EventSource.choices)
    occurred_after = IsoDateTimeFilter(
        field_name="occurred_at", lookup_expr="gte", help_text="occurred_at >= this ISO 8601 time."
    )
    occurred_before = IsoDateTimeFilter(
        field_name="occurred_at", lookup_expr="lt", help_text="occurred_at < this ISO 8601 time."
    )
    recovered_by_run = IntegerFilter(
        field_name="recovery__run",
        help_text="Only events that this reconciliation run recovered (missed by webhooks).",
    )

    class Meta:
        model = InboundEvent
        fields = [
            "integration",
            "type",
            "status",
            "source",
            "occurred_after",
            "occurred_before",
            "recovered_by_run",
        ]


class ReconciliationRunFilter(django_filters.FilterSet):
    integration = TextFilter(field_name="integration__slug")
    status = django_filters.ChoiceFilter(choices=ReconciliationRun.Status.choices)
    trigger = django_filters.ChoiceFilter(choices=ReconciliationRun.Trigger.choices)
    started_after = IsoDateTimeFilter(field_name="started_at", lookup_expr="gte")
    with_delta = django_filters.BooleanFilter(
        method="filter_with_delta", help_text="Runs that recovered events."
    )

    class Meta:
        model = ReconciliationRun
        fields = ["integration", "status", "trigger", "started_after", "with_delta"]

    def filter_with_delta(self, queryset, name, value):
        if value is None:
            return queryset
        return queryset.filter(recovered__gt=0) if value else queryset.filter(recovered=0)
