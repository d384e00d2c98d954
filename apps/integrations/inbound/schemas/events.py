"""One serializer per canonical event type (WEBHOOKS.md §2), and the table naming them."""

from __future__ import annotations

from decimal import Decimal

from rest_framework import serializers

from apps.integrations.inbound.registry import EVENT_TYPES
from apps.integrations.inbound.schemas.fields import (
    IDENTITY_HASH_MAX_LENGTH,
    AwareDateTimeField,
    CountryField,
    CurrencyField,
    DecimalAmountField,
    ExternalIdField,
    IdentifiersField,
    IsoDateField,
    TextField,
    optional,
)


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
