"""Shapes of GET /api/v1/payouts/ (WEBHOOKS.md §4).

Personal and banking data stay out: the method appears as its kind only (no IBAN, wallet or
beneficiary), the affiliate as its id, and no user who prepared or approved a payout is named.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.payouts.models import Payout, PayoutMethod


class PayoutReadSerializer(serializers.ModelSerializer):
    affiliate = serializers.IntegerField(source="affiliate_id", help_text="Affiliate id.")
    method_kind = serializers.ChoiceField(source="method.kind", choices=PayoutMethod.Kind.choices)
    run = serializers.IntegerField(
        source="run_id", allow_null=True, help_text="The payout run that created it."
    )
    amount = serializers.DecimalField(
        max_digits=20, decimal_places=8, help_text="What the method pays, in `currency`."
    )
    source_amount = serializers.DecimalField(
        max_digits=20,
        decimal_places=8,
        help_text="What the affiliate earned, in `source_currency`.",
    )
    fx_rate = serializers.DecimalField(
        max_digits=24, decimal_places=10, help_text="1 source_currency = fx_rate currency."
    )
    statements = serializers.SerializerMethodField(
        help_text="Ids of the statements this payout carries."
    )

    class Meta:
        model = Payout
        fields = [
            "id",
            "reference",
            "affiliate",
            "status",
            "method_kind",
            "run",
            "amount",
            "currency",
            "source_amount",
            "source_currency",
            "fx_rate",
            "fx_source",
            "fx_as_of",
            "fx_locked_at",
            "fx_lock_mode",
            "gateway_reference",
            "failure_code",
            "statements",
            "created_at",
            "updated_at",
            "approved_at",
            "submitted_at",
            "completed_at",
            "failed_at",
            "cancelled_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.IntegerField()))
    def get_statements(self, payout: Payout) -> list[int]:
        # Prefetched by payout_list; released allocations (cancelled payouts) no longer carry them.
        return [a.statement_id for a in payout.allocations.all() if a.released_at is None]


PAYOUT_EXAMPLE = {
    "id": 301,
    "reference": "PO-2026-12-000301",
    "affiliate": 12,
    "status": "completed",
    "method_kind": "bank_wire",
    "run": 17,
    "amount": "1409.68000000",
    "currency": "EUR",
    "source_amount": "1409.68000000",
    "source_currency": "EUR",
    "fx_rate": "1.0000000000",
    "fx_source": "identity",
    "fx_as_of": "2026-12-02T09:30:00Z",
    "fx_locked_at": "2026-12-02T09:30:00Z",
    "fx_lock_mode": "statement_approval",
    "gateway_reference": "gw_8XcQ2",
    "failure_code": "",
    "statements": [812],
    "created_at": "2026-12-02T10:00:00Z",
    "updated_at": "2026-12-03T08:12:44Z",
    "approved_at": "2026-12-02T11:20:00Z",
    "submitted_at": "2026-12-02T11:20:02Z",
    "completed_at": "2026-12-03T08:12:44Z",
    "failed_at": None,
    "cancelled_at": None,
}
