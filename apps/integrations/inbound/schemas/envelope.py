"""The envelope `{"type", "timestamp", "data"}`: which integration kind may send which type,
and `validate_envelope`, the one entry point."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from rest_framework import serializers

from apps.core.bounded import json_violations
from apps.integrations.inbound.registry import EVENT_TYPES
from apps.integrations.inbound.schemas.data import (
    _CROSS_FIELD_RULES,
    _fast_data,
    _limit_errors,
    _serializer_data,
)
from apps.integrations.inbound.schemas.events import (
    _DATA_FIELDS,
)
from apps.integrations.inbound.schemas.fields import (
    MAX_ID_LENGTH,
    AwareDateTimeField,
)

# WEBHOOKS.md §2 "sent by": which event types each integration kind may send.
KIND_EVENT_TYPES: dict[str, frozenset[str]] = {
    "crm": frozenset(
        {
            "player.registered",
            "deposit.created",
            "revenue.reported",
            "purchase.created",
            "purchase.refunded",
        }
    ),
    "payments": frozenset(
        {"deposit.created", "chargeback.created", "payout.confirmed", "payout.failed"}
    ),
    "trading": frozenset({"player.registered", "trade.closed"}),
    "compliance": frozenset({"kyc.updated", "self_exclusion.started", "self_exclusion.ended"}),
    "prop": frozenset(
        {"purchase.created", "purchase.refunded", "player.registered", "deposit.created"}
    ),
}

ENVELOPE_FIELDS = frozenset({"type", "timestamp", "data"})
# Batch and poll items carry their own id; a single webhook may carry one too (ignored there).
ENVELOPE_OPTIONAL_FIELDS = frozenset({"id"})


@dataclass
class ValidationResult:
    """The outcome of validating one envelope. `errors` empty means valid."""

    event_type: str = ""
    occurred_at: dt.datetime | None = None
    data: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[dict[str, str]] = field(default_factory=list)
    # Nested too deep or holding a NUL: not storable as sent (see apps.core.bounded).
    out_of_bounds: bool = False

    @property
    def is_valid(self) -> bool:
        return not self.errors


_TIMESTAMP_FIELD = AwareDateTimeField()  # stateless; one instance serves every call


def validate_envelope(
    envelope: Any, *, kind: str, require_id: bool = False, fast: bool = True
) -> ValidationResult:
    """Validate an envelope `{"type", "timestamp", "data"}` for an integration of `kind`.

    `fast=False` skips the fast path (the tests compare both).
    """
    result = ValidationResult()
    if not isinstance(envelope, dict):
        result.errors["non_field_errors"] = ["Each event must be a JSON object."]
        return result
    errors = result.errors
    bounds = json_violations(envelope)
    if bounds:  # nothing else is read from a document that may not even be storable
        errors.update(bounds)
        result.out_of_bounds = True
        event_type = envelope.get("type")
        result.event_type = (
            event_type[:64].replace("\x00", "\ufffd") if isinstance(event_type, str) else ""
        )
        return result

    for name in sorted(set(envelope) - ENVELOPE_FIELDS - ENVELOPE_OPTIONAL_FIELDS):
        result.warnings.append({"field": str(name)[:200], "message": "Unknown field; ignored."})

    if require_id:
        event_id = envelope.get("id")
        if not isinstance(event_id, str) or not event_id or len(event_id) > MAX_ID_LENGTH:
            errors["id"] = [f"Required: a non-empty string of at most {MAX_ID_LENGTH} characters."]

    event_type = envelope.get("type")
    if not isinstance(event_type, str) or not event_type:
        errors["type"] = ["Required: the event type, e.g. deposit.created."]
    elif event_type not in EVENT_TYPES:
        errors["type"] = [f"Unknown event type {event_type[:64]!r}."]
    elif event_type not in KIND_EVENT_TYPES.get(kind, ()):
        allowed = ", ".join(sorted(KIND_EVENT_TYPES.get(kind, ())))
        errors["type"] = [
            f"A {kind} integration does not send {event_type}; it may send: {allowed}."
        ]
    if isinstance(event_type, str):
        result.event_type = event_type[:64]

    timestamp = envelope.get("timestamp")
    if timestamp is None:
        errors["timestamp"] = ["Required: when the event happened, ISO 8601 with an offset."]
    else:
        try:
            result.occurred_at = _TIMESTAMP_FIELD.run_validation(timestamp)
        except serializers.ValidationError as exc:
            errors["timestamp"] = [str(message) for message in exc.detail]

    data = envelope.get("data")
    if not isinstance(data, dict):
        errors["data"] = ["Required: a JSON object with the event's fields."]
    elif "type" not in errors:
        validated = _fast_data(event_type, data) if fast else None
        if validated is not None:
            result.data = validated
        else:
            result.data, data_errors = _serializer_data(event_type, data)
            errors.update(data_errors)
        if result.data:
            errors.update(_limit_errors(event_type, result.data))
            rule = _CROSS_FIELD_RULES.get(event_type)
            if rule is not None:
                errors.update(rule(result.data))
        for name in sorted(set(data) - _DATA_FIELDS[event_type]):
            result.warnings.append(
                {"field": f"data.{str(name)[:200]}", "message": "Unknown field; ignored."}
            )
    return result
