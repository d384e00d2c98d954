"""Shapes of GET /api/v1/affiliates/."""

from __future__ import annotations

from rest_framework import serializers

from apps.affiliates.models import Affiliate


class AffiliateReadSerializer(serializers.ModelSerializer):
    parent = serializers.IntegerField(
        source="parent_id", allow_null=True, help_text="Parent affiliate (sub-affiliates)."
    )

    class Meta:
        model = Affiliate
        fields = [
            "id",
            "name",
            "email",
            "status",
            "parent",
            "payout_currency",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


AFFILIATE_EXAMPLE = {
    "id": 12,
    "name": "Casino Reviews Ltd",
    "email": "partners@casinoreviews.example",
    "status": "active",
    "parent": None,
    "payout_currency": "EUR",
    "created_at": "2026-01-15T09:00:00Z",
    "updated_at": "2026-11-02T16:41:10Z",
}
