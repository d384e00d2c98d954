"""FilterSets over payouts, shared by the read API, the admin and exports through
apps/payouts/selectors.py (payout_list)."""

from __future__ import annotations

import django_filters

from apps.commissions.filters import CurrencyFilter
from apps.core.filters import IntegerFilter, IsoDateTimeFilter, TextFilter
from apps.payouts.models import Payout, PayoutMethod, PayoutStatus


class PayoutFilter(django_filters.FilterSet):
    affiliate = IntegerFilter(field_name="affiliate_id", help_text="Affiliate id.")
    status = django_filters.ChoiceFilter(choices=PayoutStatus.choices)
    currency = CurrencyFilter(
        field_name="currency", help_text="Paid currency (ISO 4217 or USDT), e.g. EUR."
    )
    method_kind = django_filters.ChoiceFilter(
        field_name="method__kind", choices=PayoutMethod.Kind.choices
    )
    reference = TextFilter(
        field_name="reference", help_text="Our payout reference (the gateway idempotency key)."
    )
    run = IntegerFilter(field_name="run_id", help_text="Payout run id.")
    created_after = IsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte", help_text="created_at >= this ISO 8601 time."
    )
    created_before = IsoDateTimeFilter(
        field_name="created_at", lookup_expr="lt", help_text="created_at < this ISO 8601 time."
    )

    class Meta:
        model = Payout
        fields = [
            "affiliate",
            "status",
            "currency",
            "method_kind",
            "reference",
            "run",
            "created_after",
            "created_before",
        ]
