"""FilterSets over affiliates (read API and admin share them through selectors.affiliate_list)."""

from __future__ import annotations

import django_filters

from apps.affiliates.models import Affiliate
from apps.core.filters import IntegerFilter, IsoDateTimeFilter, TextFilter


class AffiliateFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Affiliate.Status.choices)
    parent = IntegerFilter(field_name="parent_id", help_text="Sub-affiliates of this affiliate id.")
    payout_currency = TextFilter(method="filter_currency", help_text="ISO 4217, e.g. EUR.")
    created_after = IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Affiliate
        fields = ["status", "parent", "payout_currency", "created_after", "created_before"]

    def filter_currency(self, queryset, name, value):
        return queryset.filter(payout_currency=value.upper()) if value else queryset
