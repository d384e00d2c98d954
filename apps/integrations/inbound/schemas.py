"""Envelope and payload validation for the canonical event types (WEBHOOKS.md §2).

One DRF serializer per event type validates `data`. Decisions a sender should know:

- Amounts are decimal strings of ASCII digits (`"12.50"`, `"-3"`; not Arabic-Indic or
  full-width digits, which Python's Decimal() would read). JSON integers are accepted too (they are
  exact); JSON floats are rejected, because a float may already have lost the value the
  sender meant. No exponent notation, at most 20 digits with 8 decimal places.
- Currencies are ISO 4217 codes, three upper-case letters; countries ISO 3166-1 alpha-2, two
  upper-case letters.
- Times are ISO 8601 with a UTC offset or `Z`; a time without an offset is rejected. Dates are
  `YYYY-MM-DD`.
- External identifiers (`player_id`, `deposit_id`, `login`...) are strings; JSON integers are
  accepted and kept as their decimal string.
- Optional fields may be absent or null (null counts as absent).
- Unknown fields in the envelope or in `data` are accepted, ignored by processing and recorded
  as warnings on the event.
- What the handlers need is checked here, so an accepted event never fails later because of
  its shape: every field a handler reads is required, and a text a handler stores in a column
  is refused when longer than that column (the limits the domain apps declare with
  `registry.limit`). A whole envelope nesting deeper than `apps.core.bounded.MAX_JSON_DEPTH`
  or holding a NUL character is refused before any field is looked at.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.dateparse import parse_date, parse_datetime
from rest_framework import serializers
from rest_framework.fields import SkipField, empty

from apps.core.bounded import json_violations
from apps.core.money import LEDGER_DECIMAL_PLACES, LEDGER_MAX_DIGITS
from apps.integrations.inbound import registry
from apps.integrations.inbound.registry import EVENT_TYPES

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
MAX_ID_LENGTH = 255

# ASCII digits only (\d would take any script's digits); fullmatch everywhere ($ allows a "\n").
_DECIMAL_RE = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")
_CURRENCY_RE = re.compile(r"[A-Z]{3}")
_COUNTRY_RE = re.compile(r"[A-Z]{2}")


# ---------------------------------------------------------------------------------------------
# Fields


class DecimalAmountField(serializers.Field):
    default_error_messages = {
        "float": 'Amounts must be decimal strings such as "12.50", not JSON numbers with a fraction.',
        "invalid": 'Not a decimal amount (expected a string such as "12.50").',
        "max_digits": f"At most {LEDGER_MAX_DIGITS} digits and {LEDGER_DECIMAL_PLACES} decimal places.",
        "min_value": "Must be at least {min_value}.",
        "positive": "Must be greater than zero.",
    }

    def __init__(self, *, positive: bool = False, min_value: Decimal | None = None, **kwargs):
        self.positive = positive
        self.min_value = min_value
        super().__init__(**kwargs)

    def to_internal_value(self, value):
        if isinstance(value, bool):
            self.fail("invalid")
        if isinstance(value, float):
            self.fail("float")
        if isinstance(value, int):
            value = str(value)
        if not isinstance(value, str) or not _DECIMAL_RE.fullmatch(value.strip()):
            self.fail("invalid")
        try:
            amount = Decimal(value.strip())
        except InvalidOperation:
            self.fail("invalid")
        _sign, digits, exponent = amount.as_tuple()
        places = max(0, -exponent)
        if (
            places > LEDGER_DECIMAL_PLACES
            or len(digits) - places > LEDGER_MAX_DIGITS - LEDGER_DECIMAL_PLACES
        ):
            self.fail("max_digits")
        if self.positive and amount <= 0:
            self.fail("positive")
        if self.min_value is not None and amount < self.min_value:
            self.fail("min_value", min_value=self.min_value)
        return amount

    def to_representation(self, value):
        return str(value)


class PatternCodeField(serializers.Field):
    default_error_messages = {"invalid": "Invalid code."}

    def __init__(self, *, pattern: re.Pattern, message: str, **kwargs):
        self.pattern = pattern
        super().__init__(**kwargs)
        self.error_messages["invalid"] = message

    def to_internal_value(self, value):
        if not isinstance(value, str) or not self.pattern.fullmatch(value):
            self.fail("invalid")
        return value

    def to_representation(self, value):
        return value


def CurrencyField(**kwargs):  # reads like a field class
    return PatternCodeField(
        pattern=_CURRENCY_RE,
        message="Must be an ISO 4217 currency code: three upper-case letters.",
        **kwargs,
    )


def CountryField(**kwargs):
    return PatternCodeField(
        pattern=_COUNTRY_RE,
        message="Must be an ISO 3166-1 alpha-2 country code: two upper-case letters.",
        **kwargs,
    )


class ExternalIdField(serializers.Field):
    """A sending system's identifier: a non-empty string (integers accepted, kept as text)."""

    default_error_messages = {
        "invalid": "Must be a non-empty string identifier.",
        "max_length": f"At most {MAX_ID_LENGTH} characters.",
    }

    def to_internal_value(self, value):
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            self.fail("invalid")
        if len(value) > MAX_ID_LENGTH:
            self.fail("max_length")
        return value

    def to_representation(self, value):
        return value


class AwareDateTimeField(serializers.Field):
    """ISO 8601 with an offset; the result is an aware datetime."""

    default_error_messages = {
        "invalid": "Must be an ISO 8601 date-time, e.g. 2026-11-27T14:05:00Z.",
        "naive": "The time needs a UTC offset or Z (e.g. 2026-11-27T14:05:00+01:00).",
        "range": "The time is out of range once converted to UTC.",
    }

    def to_internal_value(self, value):
        if not isinstance(value, str):
            self.fail("invalid")
        try:
            parsed = parse_datetime(value)
        except ValueError:
            parsed = None
        if parsed is None:
            self.fail("invalid")
        if parsed.tzinfo is None or parsed.utcoffset() is None:
            self.fail("naive")
        # Stored in UTC: ISO 8601 and Python allow offsets PostgreSQL refuses (beyond +-15:59).
        try:
            return parsed.astimezone(dt.UTC)
        except OverflowError:
            self.fail("range")

    def to_representation(self, value):
        return value.isoformat()


class IsoDateField(serializers.Field):
    default_error_messages = {"invalid": "Must be an ISO 8601 date, e.g. 2026-11-27."}

    def to_internal_value(self, value):
        if not isinstance(value, str):
            self.fail("invalid")
        try:
            parsed = parse_date(value)
        except ValueError:
            parsed = None
        if parsed is None:
            self.fail("invalid")
        return parsed

    def to_representation(self, value):
        return value.isoformat()


class TextField(serializers.CharField):
    """Text kept as sent (not trimmed); a required one must hold more than whitespace, as the
    services that store it demand."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 255)
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def run_validation(self, data=empty):
        if isinstance(data, str) and data and not data.strip() and not self.allow_blank:
            self.fail("blank")
        return super().run_validation(data)


class IdentifiersField(serializers.Field):
    """{system: external id}, e.g. {"crm": "C-1", "mt5-live": "50123"}."""

    default_error_messages = {"invalid": "Must be an object mapping identifier systems to ids."}

    def to_internal_value(self, value):
        if not isinstance(value, dict):
            self.fail("invalid")
        result = {}
        for system, external_id in value.items():
            if isinstance(external_id, int) and not isinstance(external_id, bool):
                external_id = str(external_id)
            if (
                not system
                or len(system) > 64
                or not isinstance(external_id, str)
                or not external_id
            ):
                self.fail("invalid")
            if len(external_id) > MAX_ID_LENGTH:
                self.fail("invalid")
            result[system] = external_id
        return result

    def to_representation(self, value):
        return value


# `device_hash`, `ip_hash`, `email_hash`, `payment_fingerprint` (WEBHOOKS.md §2): the sender's
# keyed hashes, stored as PlayerIdentityValue rows (apps/players) for the risk rules.
IDENTITY_HASH_MAX_LENGTH = 128


def optional(field_factory, **kwargs):
    return field_factory(required=False, allow_null=True, **kwargs)


# ---------------------------------------------------------------------------------------------
# One serializer per event type


class EventDataSerializer(serializers.Serializer):
    """Base: validated_data drops optional fields sent as null."""

    def to_internal_value(self, data):
        validated = super().to_internal_value(data)
        return {key: value for key, value in validated.items() if value is not None}


class PlayerRegisteredSerializer(EventDataSerializer):
    player_id = ExternalIdField()
    registered_at = AwareDateTimeField()
    tracking_token = optional(TextField, max_length=200)  # absent or null = organic
    # A new player cannot be created without both (licensing); the handler has no default
    # brand to fall back on (no integration names one), so both are required here.
    country = CountryField()
    brand = TextField(max_length=100, allow_blank=False)
    identifiers = optional(IdentifiersField)
    # Identity-bearing values (the sender's keyed hashes, never raw values): risk signals.
    device_hash = optional(TextField, max_length=IDENTITY_HASH_MAX_LENGTH, allow_blank=False)
    ip_hash = optional(TextField, max_length=IDENTITY_HASH_MAX_LENGTH, allow_blank=False)
    email_hash = optional(TextField, max_length=IDENTITY_HASH_MAX_LENGTH, allow_blank=False)


class DepositCreatedSerializer(EventDataSerializer):
    deposit_id = ExternalIdField()
    player_id = ExternalIdField()
    amount = DecimalAmountField(positive=True)
    currency = CurrencyField()
    payment_fingerprint = optional(
        TextField, max_length=IDENTITY_HASH_MAX_LENGTH, allow_blank=False
    )
    device_hash = optional(TextField, max_length=IDENTITY_HASH_MAX_LENGTH, allow_blank=False)
    ip_hash = optional(TextField, max_length=IDENTITY_HASH_MAX_LENGTH, allow_blank=False)


class RevenueReportedSerializer(EventDataSerializer):
    report_id = ExternalIdField()
    player_id = ExternalIdField()
    date = IsoDateField()
    currency = CurrencyField()
    stakes = DecimalAmountField(min_value=Decimal(0))
    winnings = DecimalAmountField(min_value=Decimal(0))
    bonuses = optional(DecimalAmountField)
    jackpot_contributions = optional(DecimalAmountField)
    taxes = optional(DecimalAmountField)
    payment_fees = optional(DecimalAmountField)
    adjustments = optional(DecimalAmountField)


class TradeClosedSerializer(EventDataSerializer):
    platform = serializers.ChoiceField(choices=["mt4", "mt5", "ctrader", "dxtrade"])
    server = TextField(max_length=100)
    login = ExternalIdField()
    deal_id = ExternalIdField()
    position_id = ExternalIdField()
    symbol = TextField(max_length=64)
    volume_lots = DecimalAmountField(min_value=Decimal(0))
    entry = serializers.ChoiceField(choices=["in", "out", "inout", "out_by"])
    profit = DecimalAmountField()
    currency = CurrencyField()
    closed_at = AwareDateTimeField()
    opened_at = optional(AwareDateTimeField)
    swap = optional(DecimalAmountField)
    commission = optional(DecimalAmountField)
    price = optional(DecimalAmountField)


class PurchaseSerializer(EventDataSerializer):
    purchase_id = ExternalIdField()
    player_id = ExternalIdField()
    product = TextField(max_length=200)
    amount = DecimalAmountField(min_value=Decimal(0))
    currency = CurrencyField()


class ChargebackCreatedSerializer(EventDataSerializer):
    chargeback_id = ExternalIdField()
    player_id = ExternalIdField()
    amount = DecimalAmountField(positive=True)
    currency = CurrencyField()
    deposit_id = optional(ExternalIdField)
    reason = optional(TextField, max_length=500)


class KycUpdatedSerializer(EventDataSerializer):
    player_id = ExternalIdField()
    status = serializers.ChoiceField(choices=["pending", "passed", "failed"])
    updated_at = AwareDateTimeField()


class SelfExclusionStartedSerializer(EventDataSerializer):
    player_id = ExternalIdField()
    starts_at = AwareDateTimeField()
    ends_at = optional(AwareDateTimeField)
    scheme = optional(TextField, max_length=64)


class SelfExclusionEndedSerializer(EventDataSerializer):
    player_id = ExternalIdField()
    ended_at = AwareDateTimeField()
    scheme = optional(TextField, max_length=64)


class PayoutConfirmedSerializer(EventDataSerializer):
    payout_reference = ExternalIdField()
    gateway_reference = ExternalIdField()


class PayoutFailedSerializer(EventDataSerializer):
    payout_reference = ExternalIdField()
    gateway_reference = ExternalIdField()
    reason_code = optional(TextField, max_length=64)
    message = optional(TextField, max_length=1000)


EVENT_SERIALIZERS: dict[str, type[EventDataSerializer]] = {
    "player.registered": PlayerRegisteredSerializer,
    "deposit.created": DepositCreatedSerializer,
    "revenue.reported": RevenueReportedSerializer,
    "trade.closed": TradeClosedSerializer,
    "purchase.created": PurchaseSerializer,
    "purchase.refunded": PurchaseSerializer,
    "chargeback.created": ChargebackCreatedSerializer,
    "kyc.updated": KycUpdatedSerializer,
    "self_exclusion.started": SelfExclusionStartedSerializer,
    "self_exclusion.ended": SelfExclusionEndedSerializer,
    "payout.confirmed": PayoutConfirmedSerializer,
    "payout.failed": PayoutFailedSerializer,
}
assert set(EVENT_SERIALIZERS) == EVENT_TYPES  # every canonical type has exactly one schema

# Field names per type, computed once (serializer instances are not reused: DRF keeps state).
_DATA_FIELDS = {
    event_type: frozenset(cls().fields) for event_type, cls in EVENT_SERIALIZERS.items()
}


# ---------------------------------------------------------------------------------------------
# The fast path for valid payloads
#
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
    """{"data.field": [...]} for validated values longer than the column a handler stores them in."""
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


# ---------------------------------------------------------------------------------------------
# Envelope


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
