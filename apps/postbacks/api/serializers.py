"""Registration API shapes. Validation only: the work is done by
mappings.services.player_register (through apps.postbacks.services.player_register_announced)."""

from __future__ import annotations

import re

from rest_framework import serializers

from apps.mappings.services import EXTERNAL_ID_MAX_LENGTH, SYSTEM_PATTERN
from apps.players.models import Player

_PLAYER = Player._meta


class RegistrationRequestSerializer(serializers.Serializer):
    tracking_token = serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        max_length=_PLAYER.get_field("tracking_token").max_length,
        help_text="The `ah_token` the landing page received from the click redirect; absent = "
        "organic.",
    )
    registered_at = serializers.DateTimeField(help_text="ISO 8601, with offset.")
    country = serializers.CharField(
        min_length=2, max_length=2, help_text="ISO 3166-1 alpha-2, e.g. DE."
    )
    brand = serializers.CharField(max_length=_PLAYER.get_field("brand").max_length)
    identifiers = serializers.DictField(
        child=serializers.CharField(max_length=EXTERNAL_ID_MAX_LENGTH),
        allow_empty=False,
        help_text='The player\'s id in each system, e.g. {"crm": "C-1001", "mt5-live": "800123"}.',
    )

    def validate_country(self, value: str) -> str:
        value = value.upper()
        if not re.fullmatch(r"[A-Z]{2}", value):
            raise serializers.ValidationError("Use an ISO 3166-1 alpha-2 code, e.g. DE.")
        return value

    def validate_identifiers(self, value: dict[str, str]) -> dict[str, str]:
        bad = sorted(system for system in value if not SYSTEM_PATTERN.fullmatch(system))
        if bad:
            raise serializers.ValidationError(
                f"Invalid identifier system name(s): {', '.join(bad)}. Use lower-case letters, "
                "digits, '.', '_' or '-'."
            )
        return value


class RegistrationResponseSerializer(serializers.Serializer):
    player_id = serializers.IntegerField()
    created = serializers.BooleanField(
        help_text="False when this registration was already known (200)."
    )
    attribution_status = serializers.ChoiceField(choices=Player.AttributionStatus.choices)
    attribution_note = serializers.CharField()
    affiliate_id = serializers.IntegerField(allow_null=True)
    campaign_id = serializers.IntegerField(allow_null=True)
    identifiers = serializers.DictField(child=serializers.CharField())


class ProblemSerializer(serializers.Serializer):
    """RFC 9457 problem details."""

    type = serializers.URLField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    errors = serializers.DictField(required=False, help_text="Per-field messages (400).")
    conflicts = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        help_text="Identifiers already mapped elsewhere (409).",
    )
