"""FilterSets over players, shared by the read API, the admin and exports (via selectors).

PlayerFilter holds the basic filters; the retention filters (apps/retention/filters.py: dormant,
KYC, deposit bands…) extend it by subclassing and adding their own filters, so every consumer
keeps the same parameters.
"""

from __future__ import annotations

import django_filters

from apps.core.filters import IntegerFilter, IsoDateTimeFilter, TextFilter
from apps.players.models import Player


class PlayerFilter(django_filters.FilterSet):
    affiliate = IntegerFilter(field_name="affiliate_id", help_text="Affiliate id.")
    brand = TextFilter()
    country = TextFilter(method="filter_country", help_text="ISO 3166-1 alpha-2, e.g. DE.")
    attribution_status = django_filters.ChoiceFilter(choices=Player.AttributionStatus.choices)
    registered_after = IsoDateTimeFilter(
        field_name="registered_at",
        lookup_expr="gte",
        help_text="registered_at >= this ISO 8601 time.",
    )
    registered_before = IsoDateTimeFilter(
        field_name="registered_at",
        lookup_expr="lt",
        help_text="registered_at < this ISO 8601 time.",
    )

    class Meta:
        model = Player
        fields = [
            "affiliate",
            "brand",
            "country",
            "attribution_status",
            "registered_after",
            "registered_before",
        ]

    def filter_country(self, queryset, name, value):
        return queryset.filter(country=value.upper()) if value else queryset
