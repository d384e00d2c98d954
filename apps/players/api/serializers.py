"""Shapes of GET /api/v1/players/."""

from __future__ import annotations

from rest_framework import serializers

from apps.players.models import Player


class PlayerReadSerializer(serializers.ModelSerializer):
    affiliate = serializers.IntegerField(
        source="affiliate_id", allow_null=True, help_text="Credited affiliate id."
    )
    campaign = serializers.IntegerField(source="campaign_id", allow_null=True)

    class Meta:
        model = Player
        fields = [
            "id",
            "brand",
            "country",
            "registered_at",
            "attribution_status",
            "attribution_note",
            "affiliate",
            "campaign",
            "sub1",
            "sub2",
            "sub3",
            "sub4",
            "sub5",
            "created_at",
        ]
        read_only_fields = fields


PLAYER_EXAMPLE = {
    "id": 4711,
    "brand": "spinpalace",
    "country": "DE",
    "registered_at": "2026-11-27T10:15:00Z",
    "attribution_status": "attributed",
    "attribution_note": "click #981 on link k7m2q9xa",
    "affiliate": 12,
    "campaign": 31,
    "sub1": "summer-promo",
    "sub2": "",
    "sub3": "",
    "sub4": "",
    "sub5": "",
    "created_at": "2026-11-27T10:15:00.412Z",
}
