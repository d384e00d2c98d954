"""FilterSet over risk cases, shared by the read API and the admin through
apps/risk/selectors.py (risk_case_list)."""

from __future__ import annotations

import django_filters

from apps.core.filters import IntegerFilter, IsoDateTimeFilter
from apps.risk.models import RiskCase


class RiskCaseFilter(django_filters.FilterSet):
    affiliate = IntegerFilter(field_name="affiliate_id", help_text="Affiliate id.")
    status = django_filters.ChoiceFilter(choices=RiskCase.Status.choices)
    opened_after = IsoDateTimeFilter(
        field_name="opened_at", lookup_expr="gte", help_text="opened_at >= this ISO 8601 time."
    )
    opened_before = IsoDateTimeFilter(
        field_name="opened_at", lookup_expr="lt", help_text="opened_at < this ISO 8601 time."
    )

    class Meta:
        model = RiskCase
        fields = ["affiliate", "status", "opened_after", "opened_before"]
