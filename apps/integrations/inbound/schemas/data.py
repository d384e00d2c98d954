"""Validating an event's `data`: the fast path for valid payloads, the serializer for the rest,
then the column limits the domain apps declare and the rules across fields."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers
from rest_framework.fields import SkipField, empty

from apps.integrations.inbound import registry
from apps.integrations.inbound.schemas.events import (
    EVENT_SERIALIZERS,
    EventDataSerializer,
)

# A serializer instance per request costs more than everything else validation does (DRF
# deep-copies every declared field, then walks them through its generic machinery). The fields
# themselves are stateless, so each type keeps one bound set and runs `field.run_validation` on
# each value exactly as `Serializer.to_internal_value` does. Only a payload that every field
# accepts is answered here; at the first field error the whole payload goes through the
# serializer, so errors (their fields, order and messages) come from DRF as before.
# tests/integrations/test_schemas_fast.py checks both paths agree on generated payloads.


def _bound_fields(
    cls: type[EventDataSerializer],
) -> tuple[tuple[str, serializers.Field], ...] | None:
    """(name, field) in declaration order, or None when the serializer has hooks of its own."""
    custom_hooks = any(name.startswith("validate_") for name in vars(cls)) or any(
        getattr(cls, hook) is not getattr(EventDataSerializer, hook)
        for hook in ("validate", "to_internal_value")
    )
    if custom_hooks or getattr(getattr(cls, "Meta", None), "validators", None):
        return None
    serializer = cls()  # the fields' root (field.root, field.parent) stays alive with them
    fields = tuple((bound.field_name, bound) for bound in serializer._writable_fields)
    if any(bound.source != name or bound.source_attrs != [name] for name, bound in fields):
        return None
    return fields


_BOUND_FIELDS = {event_type: _bound_fields(cls) for event_type, cls in EVENT_SERIALIZERS.items()}


def _fast_data(event_type: str, data: dict) -> dict[str, Any] | None:
    """The validated payload when every field is valid; None to let the serializer decide."""
    fields = _BOUND_FIELDS[event_type]
    if fields is None:
        return None
    validated: dict[str, Any] = {}
    for name, bound in fields:
        try:
            value = bound.run_validation(data.get(name, empty))
        except SkipField:
            continue
        except (serializers.ValidationError, DjangoValidationError):
            return None
        if value is not None:  # EventDataSerializer drops optional fields sent as null
            validated[name] = value
    return validated


def _serializer_data(event_type: str, data: dict) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """(validated payload, {}) or ({}, errors) through the DRF serializer (the reference path)."""
    serializer = EVENT_SERIALIZERS[event_type](data=data)
    if serializer.is_valid():
        return dict(serializer.validated_data), {}
    return {}, _plain_errors(serializer.errors, "data")


# ---------------------------------------------------------------------------------------------
# What the handlers store: the column limits the domain apps declare (registry.limit)


def _exclusion_ends_after_it_starts(data: dict[str, Any]) -> dict[str, list[str]]:
    ends_at = data.get("ends_at")
    if ends_at is not None and ends_at <= data["starts_at"]:
        return {"data.ends_at": ["Must be after starts_at."]}
    return {}


# Rules across fields of a valid payload, which the handler's service would otherwise refuse
# (kept out of the serializers, so every type keeps its fast path).
_CROSS_FIELD_RULES = {"self_exclusion.started": _exclusion_ends_after_it_starts}


def _limit_errors(event_type: str, data: dict[str, Any]) -> dict[str, list[str]]:
    """{"data.field": [...]} for validated values longer than the column a handler stores them
    in."""
    errors: dict[str, list[str]] = {}
    for name, rule in registry.limits_for(event_type).items():
        value = data.get(name)
        if isinstance(value, str):
            if len(value) > rule.max_length:
                errors[f"data.{name}"] = [f"At most {rule.max_length} characters."]
        elif isinstance(value, dict):
            for key, item in value.items():
                if rule.key_pattern is not None and not rule.key_pattern.fullmatch(str(key)):
                    errors.setdefault(f"data.{name}", []).append(
                        f"Key {str(key)[:64]!r} must match {rule.key_pattern.pattern}."
                    )
                if isinstance(item, str) and len(item) > rule.max_length:
                    errors.setdefault(f"data.{name}.{str(key)[:64]}", []).append(
                        f"At most {rule.max_length} characters."
                    )
    return errors


def _plain_errors(errors, prefix: str = "") -> dict[str, list[str]]:
    """DRF error tree -> {"data.amount": ["..."]} with plain strings."""
    flat: dict[str, list[str]] = {}
    if isinstance(errors, dict):
        for key, value in errors.items():
            name = "" if key == "non_field_errors" else str(key)
            path = f"{prefix}.{name}" if prefix and name else (prefix or name or "data")
            for sub_key, messages in _plain_errors(value, path).items():
                flat.setdefault(sub_key, []).extend(messages)
    elif isinstance(errors, list):
        for item in errors:
            if isinstance(item, dict | list):
                for sub_key, messages in _plain_errors(item, prefix).items():
                    flat.setdefault(sub_key, []).extend(messages)
            else:
                flat.setdefault(prefix, []).append(str(item))
    else:
        flat.setdefault(prefix, []).append(str(errors))
    return flat
