"""Shapes of GET /api/v1/commissions/ and /api/v1/statements/ (WEBHOOKS.md §4).

Personal data stays out: players and affiliates appear as ids only, and the ledger's free-form
`detail` and status reasons (which may name compliance decisions) are not exposed.
Amounts are decimal strings with the ledger's 8 places; statement lines carry both the exact
sum and the amount rounded once to the currency's minor unit.
"""

from __future__ import annotations

from rest_framework import serializers

from apps.commissions.models import CommissionEntry, Statement, StatementLine


class CommissionEntryReadSerializer(serializers.ModelSerializer):
    affiliate = serializers.IntegerField(source="affiliate_id", help_text="Affiliate id.")
    player = serializers.IntegerField(
        source="player_id", allow_null=True, help_text="Player id; null for lines no player caused."
    )
    plan = serializers.IntegerField(
        source="plan_id", allow_null=True, help_text="Commission plan id."
    )
    source_event = serializers.IntegerField(
        source="source_event_id",
        allow_null=True,
        help_text="The inbound event (see /events/) the line accrued from.",
    )
    reverses = serializers.IntegerField(
        source="reverses_id", allow_null=True, help_text="The line this one corrects."
    )
    period = serializers.DateField(
        help_text="Accrual period: first day of the month (operator time zone)."
    )
    statement_period = serializers.DateField(
        allow_null=True,
        help_text="The period whose statement carries the line (approved and paid lines).",
    )
    amount = serializers.DecimalField(
        max_digits=20, decimal_places=8, help_text="Exact amount; negative for corrections."
    )
    quantity = serializers.DecimalField(
        max_digits=20,
        decimal_places=8,
        allow_null=True,
        help_text="Lots, NGR or base amount the rate applied to.",
    )
    rate = serializers.DecimalField(max_digits=20, decimal_places=8, allow_null=True)

    class Meta:
        model = CommissionEntry
        fields = [
            "id",
            "kind",
            "status",
            "affiliate",
            "player",
            "plan",
            "source_event",
            "reverses",
            "period",
            "statement_period",
            "restates_period",
            "occurred_at",
            "amount",
            "currency",
            "quantity",
            "rate",
            "approve_after",
            "status_changed_at",
            "created_at",
        ]
        read_only_fields = fields


COMMISSION_EXAMPLE = {
    "id": 55120,
    "kind": "cpa",
    "status": "approved",
    "affiliate": 12,
    "player": 4711,
    "plan": 3,
    "source_event": 90211,
    "reverses": None,
    "period": "2026-11-01",
    "statement_period": "2026-11-01",
    "restates_period": None,
    "occurred_at": "2026-11-27T10:15:00Z",
    "amount": "150.00000000",
    "currency": "EUR",
    "quantity": "50.00000000",
    "rate": None,
    "approve_after": "2026-11-27T10:15:00Z",
    "status_changed_at": "2026-12-01T03:00:12Z",
    "created_at": "2026-11-27T10:15:01.530Z",
}


class StatementLineReadSerializer(serializers.ModelSerializer):
    plan = serializers.IntegerField(source="plan_id", allow_null=True)
    exact_amount = serializers.DecimalField(
        max_digits=20, decimal_places=8, help_text="Sum of the ledger rows, unrounded."
    )
    amount = serializers.DecimalField(
        max_digits=20,
        decimal_places=8,
        help_text="Rounded once to the currency's minor unit (the plan's rounding mode).",
    )

    restates_period = serializers.DateField(
        allow_null=True,
        help_text="Adjustments: the closed period this line adjusts (late revenue, carryover).",
    )

    class Meta:
        model = StatementLine
        fields = ["kind", "plan", "restates_period", "entry_count", "exact_amount", "amount"]
        read_only_fields = fields


class StatementReadSerializer(serializers.ModelSerializer):
    affiliate = serializers.IntegerField(source="affiliate_id", help_text="Affiliate id.")
    period = serializers.DateField(
        help_text="First day of the statement month (operator time zone)."
    )
    total = serializers.DecimalField(
        max_digits=20, decimal_places=8, help_text="Sum of the rounded lines."
    )
    lines = StatementLineReadSerializer(
        many=True, help_text="Approved ledger rows summed per kind and plan."
    )

    class Meta:
        model = Statement
        fields = [
            "id",
            "affiliate",
            "period",
            "currency",
            "status",
            "total",
            "lines",
            "created_at",
            "approved_at",
        ]
        read_only_fields = fields


STATEMENT_EXAMPLE = {
    "id": 812,
    "affiliate": 12,
    "period": "2026-11-01",
    "currency": "EUR",
    "status": "approved",
    "total": "1409.68000000",
    "lines": [
        {
            "kind": "cpa",
            "plan": 3,
            "restates_period": None,
            "entry_count": 8,
            "exact_amount": "1200.00000000",
            "amount": "1200.00000000",
        },
        {
            "kind": "revshare",
            "plan": 3,
            "restates_period": None,
            "entry_count": 1,
            "exact_amount": "209.68450000",
            "amount": "209.68000000",
        },
    ],
    "created_at": "2026-12-01T03:00:12Z",
    "approved_at": "2026-12-02T09:30:00Z",
}
