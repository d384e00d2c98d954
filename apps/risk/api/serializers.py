"""Shape of GET /api/v1/risk-cases/ (WEBHOOKS.md §4): affiliate, players, signals, score, status,
held amount. Shared identity values appear masked only (as the evidence stores them); no staff
member who decided is named."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.risk.models import RiskCase, RiskSignal


class RiskSignalReadSerializer(serializers.ModelSerializer):
    rule = serializers.CharField(source="rule.code", help_text="The rule's code.")
    players = serializers.SerializerMethodField(help_text="Ids of the players the signal names.")
    evidence = serializers.JSONField(help_text="What the rule saw; shared values masked.")

    class Meta:
        model = RiskSignal
        fields = ["id", "rule", "score", "summary", "players", "evidence", "created_at"]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.IntegerField()))
    def get_players(self, signal: RiskSignal) -> list[int]:
        return sorted(p.pk for p in signal.players.all())


class HeldAmountSerializer(serializers.Serializer):
    currency = serializers.CharField()
    amount = serializers.DecimalField(max_digits=20, decimal_places=8)


class RiskCaseReadSerializer(serializers.ModelSerializer):
    affiliate = serializers.IntegerField(source="affiliate_id", help_text="Affiliate id.")
    players = serializers.SerializerMethodField(help_text="Ids of the players in the case.")
    signals = RiskSignalReadSerializer(many=True, read_only=True)
    held = serializers.SerializerMethodField(
        help_text="Commission held by the case now, per currency (empty once decided)."
    )
    payouts_held = serializers.SerializerMethodField(
        help_text="Whether the case holds the affiliate's payouts (score above the limit)."
    )

    class Meta:
        model = RiskCase
        fields = [
            "id",
            "affiliate",
            "status",
            "score",
            "players",
            "signals",
            "held",
            "payouts_held",
            "opened_at",
            "decided_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.IntegerField()))
    def get_players(self, case: RiskCase) -> list[int]:
        return [p.pk for p in case.players.all()]

    @extend_schema_field(HeldAmountSerializer(many=True))
    def get_held(self, case: RiskCase) -> list[dict]:
        held = self.context.get("held", {}).get(case.pk, {})
        return [{"currency": c, "amount": str(a)} for c, a in sorted(held.items())]

    @extend_schema_field(serializers.BooleanField())
    def get_payouts_held(self, case: RiskCase) -> bool:
        return case.payout_hold_id is not None and case.is_live


RISK_CASE_EXAMPLE = {
    "id": 41,
    "affiliate": 12,
    "status": "open",
    "score": 40,
    "players": [901, 902, 903],
    "signals": [
        {
            "id": 77,
            "rule": "duplicate_identity",
            "score": 40,
            "summary": "3 players share device hash d41d…8427",
            "players": [901, 902, 903],
            "evidence": {"kind": "device_hash", "value": "d41d…8427", "players_sharing": 3},
            "created_at": "2026-12-02T10:00:00Z",
        }
    ],
    "held": [{"currency": "EUR", "amount": "600.00000000"}],
    "payouts_held": False,
    "opened_at": "2026-12-02T09:58:12Z",
    "decided_at": None,
}
