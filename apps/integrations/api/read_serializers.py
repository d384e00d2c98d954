"""Shapes of GET /api/v1/events/ (WEBHOOKS.md §4)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.core.bounded import MAX_JSON_DEPTH, json_preview
from apps.integrations.models import EventSource, EventStatus, InboundEvent


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": True,
        "description": (
            "The envelope as the source sent it: type, timestamp, data (batch and poll items also "
            "id). "
            f"Parts nested deeper than {MAX_JSON_DEPTH} levels (only in events stored before the "
            "intake "
            "refused them) are replaced by a marker string."
        ),
        "example": {
            "type": "deposit.created",
            "timestamp": "2026-11-27T10:15:00Z",
            "data": {
                "deposit_id": "D-5512",
                "player_id": "C-100234",
                "amount": "50.00",
                "currency": "EUR",
            },
        },
    }
)
class EnvelopeField(serializers.JSONField):
    def to_representation(self, value):
        return super().to_representation(json_preview(value))


class InboundEventSerializer(serializers.ModelSerializer):
    integration = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, help_text="Integration slug."
    )
    webhook_id = serializers.CharField(
        help_text="The sender's id: the idempotency key (webhook-id header or item id)."
    )
    type = serializers.CharField(
        source="event_type", help_text="Event type; empty when the body was unreadable."
    )
    status = serializers.ChoiceField(choices=EventStatus.choices)
    source = serializers.ChoiceField(choices=EventSource.choices, help_text="How it reached us.")
    occurred_at = serializers.DateTimeField(allow_null=True, help_text="The envelope's timestamp.")
    received_at = serializers.DateTimeField()
    processed_at = serializers.DateTimeField(allow_null=True)
    payload = EnvelopeField()
    errors = serializers.JSONField(
        help_text="Validation errors per field (invalid events), else {}."
    )

    class Meta:
        model = InboundEvent
        fields = [
            "id",
            "integration",
            "webhook_id",
            "type",
            "status",
            "source",
            "occurred_at",
            "received_at",
            "processed_at",
            "attempts",
            "payload",
            "errors",
        ]
        read_only_fields = fields


EVENT_EXAMPLE = {
    "id": 90211,
    "integration": "crm-main",
    "webhook_id": "msg_2Kp9xQ7rT1",
    "type": "deposit.created",
    "status": "processed",
    "source": "webhook",
    "occurred_at": "2026-11-27T10:15:00Z",
    "received_at": "2026-11-27T10:15:01.204Z",
    "processed_at": "2026-11-27T10:15:01.391Z",
    "attempts": 1,
    "payload": {
        "type": "deposit.created",
        "timestamp": "2026-11-27T10:15:00Z",
        "data": {
            "deposit_id": "D-5512",
            "player_id": "C-100234",
            "amount": "50.00",
            "currency": "EUR",
        },
    },
    "errors": {},
}
