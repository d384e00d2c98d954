"""The field types every event's schema is built from: amounts, codes, external ids, aware
times, dates, bounded text and identifiers (the rules the package docstring lists)."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation

from django.utils.dateparse import parse_date, parse_datetime
from rest_framework import serializers
from rest_framework.fields import empty

from apps.core.money import LEDGER_DECIMAL_PLACES, LEDGER_MAX_DIGITS

MAX_ID_LENGTH = 255

# ASCII digits only (\d would take any script's digits); fullmatch everywhere ($ allows a "\n").
_DECIMAL_RE = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")
_CURRENCY_RE = re.compile(r"[A-Z]{3}")
_COUNTRY_RE = re.compile(r"[A-Z]{2}")


class DecimalAmountField(serializers.Field):
    default_error_messages = {
        "float": (
            'Amounts must be decimal strings such as "12.50", not JSON numbers with a fraction.'
        ),
        "invalid": 'Not a decimal amount (expected a string such as "12.50").',
        "max_digits": (
            f"At most {LEDGER_MAX_DIGITS} digits and {LEDGER_DECIMAL_PLACES} decimal places."
        ),
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
