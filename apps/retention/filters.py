"""The retention FilterSet: PlayerFilter plus origin, KYC, self-exclusion, deposit and NGR
filters, over players annotated by `apps.retention.selectors.with_retention_figures`.

One FilterSet drives GET /api/v1/players/ (apps/retention/api), the retention admin's sidebar
and its exports (apps/retention/admin.py), so a parameter means the same thing everywhere.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import django_filters
from django import forms
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field

from apps.compliance.models import KycRecord
from apps.core.filters import IntegerFilter, IsoDateTimeFilter, TextFilter
from apps.mappings.models import IdentifierMapping
from apps.players.filters import PlayerFilter
from apps.players.models import Player, Purchase

DEPOSIT_BANDS = {
    "0": (None, Decimal("0.01")),
    "1-100": (Decimal("0.01"), Decimal(100)),
    "100-1000": (Decimal(100), Decimal(1000)),
    "1000+": (Decimal(1000), None),
}
NGR_BANDS = {
    "negative": (None, Decimal(0)),
    "0-500": (Decimal(0), Decimal(500)),
    "500-5000": (Decimal(500), Decimal(5000)),
    "5000+": (Decimal(5000), None),
}


MAX_DORMANT_DAYS = 36_500


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": MAX_DORMANT_DAYS})
class DaysFilter(IntegerFilter):
    """A number of days: whole, at least 1, at most a century (larger ones overflow a timedelta)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_value", MAX_DORMANT_DAYS)
        super().__init__(*args, **kwargs)


def _band(queryset, field: str, bands: dict, value: str):
    low, high = bands[value]
    if low is not None:
        queryset = queryset.filter(**{f"{field}__gte": low})
    if high is not None:
        queryset = queryset.filter(**{f"{field}__lt": high})
    return queryset


class AsciiDecimalField(forms.DecimalField):
    def to_python(self, value):
        if isinstance(value, str) and value.strip() and not ASCII_AMOUNT.fullmatch(value.strip()):
            raise forms.ValidationError(
                "Give a decimal amount in ASCII digits, e.g. 100 or -25.50."
            )
        return super().to_python(value)


ASCII_AMOUNT = re.compile(r"-?[0-9]{1,12}(\.[0-9]{1,8})?")


@extend_schema_field({"type": "string", "pattern": "^-?[0-9]{1,12}(\\.[0-9]{1,8})?$"})
class AmountFilter(django_filters.NumberFilter):
    """A decimal amount bound: ASCII digits only (Python would read other scripts' digits too)."""

    field_class = AsciiDecimalField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_digits", 20)
        kwargs.setdefault("decimal_places", 8)
        super().__init__(*args, **kwargs)


def identifier_query(value: str) -> Q:
    """Players known by `value`: their id, a tracking token, or an active mapping in any system."""
    mapped = IdentifierMapping.objects.filter(
        player=OuterRef("pk"), external_id=value, retired_at__isnull=True
    )
    query = Q(tracking_token=value) | Q(Exists(mapped))
    if value.isascii() and value.isdigit() and len(value) < 19:
        query |= Q(pk=int(value))
    return query


class RetentionPlayerFilter(PlayerFilter):
    """PlayerFilter plus the retention filters. Needs a queryset from `with_retention_figures`."""

    origin = django_filters.ChoiceFilter(
        choices=[("referred", "Referred by an affiliate"), ("organic", "Organic")],
        method="filter_origin",
        help_text="referred: attributed to an affiliate; organic: everyone else.",
    )
    campaign = IntegerFilter(field_name="campaign_id", help_text="Campaign id.")
    kyc = django_filters.ChoiceFilter(
        choices=[*KycRecord.Status.choices, ("none", "No KYC")],
        method="filter_kyc",
        help_text="Current KYC status; none: no KYC record.",
    )
    # "true"/"false" only: django-filter's BooleanFilter reads any other word as "no filter".
    excluded = django_filters.ChoiceFilter(
        choices=[("true", "Yes"), ("false", "No")],
        method="filter_excluded",
        help_text="Self-excluded now.",
    )
    first_deposit_after = IsoDateTimeFilter(
        field_name="first_deposit_at",
        lookup_expr="gte",
        help_text="First deposit at or after this ISO 8601 time.",
    )
    first_deposit_before = IsoDateTimeFilter(
        field_name="first_deposit_at",
        lookup_expr="lt",
        help_text="First deposit before this ISO 8601 time.",
    )
    last_deposit_after = IsoDateTimeFilter(
        field_name="last_deposit_at",
        lookup_expr="gte",
        help_text="Last deposit at or after this ISO 8601 time.",
    )
    last_deposit_before = IsoDateTimeFilter(
        field_name="last_deposit_at",
        lookup_expr="lt",
        help_text="Last deposit before this ISO 8601 time.",
    )
    dormant_days = DaysFilter(
        method="filter_dormant",
        help_text="Depositors whose last deposit is at least this many days old.",
    )
    deposits_band = django_filters.ChoiceFilter(
        choices=[(k, k) for k in DEPOSIT_BANDS],
        method="filter_deposits",
        help_text="Lifetime deposits, in the player's currency.",
    )
    ngr_band = django_filters.ChoiceFilter(
        choices=[(k, k) for k in NGR_BANDS],
        method="filter_ngr",
        help_text="Lifetime NGR, in the player's currency.",
    )
    last_activity_after = IsoDateTimeFilter(
        field_name="last_activity_at",
        lookup_expr="gte",
        help_text="Last activity (deposit, revenue day, trade or purchase) at or after this ISO "
        "8601 time.",
    )
    last_activity_before = IsoDateTimeFilter(
        field_name="last_activity_at",
        lookup_expr="lt",
        help_text="Last activity before this ISO 8601 time.",
    )
    deposits_min = AmountFilter(
        field_name="lifetime_deposits",
        lookup_expr="gte",
        help_text="Lifetime deposits at least this, in the player's currency.",
    )
    deposits_max = AmountFilter(
        field_name="lifetime_deposits",
        lookup_expr="lte",
        help_text="Lifetime deposits at most this, in the player's currency.",
    )
    ngr_min = AmountFilter(
        field_name="ngr", lookup_expr="gte", help_text="Lifetime NGR at least this."
    )
    ngr_max = AmountFilter(
        field_name="ngr", lookup_expr="lte", help_text="Lifetime NGR at most this."
    )
    currency = TextFilter(
        method="filter_currency", help_text="The player's deposit currency (ISO 4217), e.g. EUR."
    )
    sub_id = TextFilter(
        method="filter_sub_id", help_text="Any of the click's sub1..sub5 values, exactly."
    )
    product = TextFilter(
        method="filter_product", help_text="Bought this product (prop firm purchases), exactly."
    )
    identifier = TextFilter(
        method="filter_identifier",
        help_text="Any identifier: the player id, a tracking token, or an id in any system (CRM "
        "id, MT5 login...).",
    )

    class Meta(PlayerFilter.Meta):
        fields = [
            *PlayerFilter.Meta.fields,
            "origin",
            "campaign",
            "kyc",
            "excluded",
            "first_deposit_after",
            "first_deposit_before",
            "last_deposit_after",
            "last_deposit_before",
            "dormant_days",
            "deposits_band",
            "ngr_band",
            "last_activity_after",
            "last_activity_before",
            "deposits_min",
            "deposits_max",
            "ngr_min",
            "ngr_max",
            "currency",
            "sub_id",
            "product",
            "identifier",
        ]

    def filter_currency(self, queryset, name, value):
        return queryset.filter(currency=value.upper())

    def filter_sub_id(self, queryset, name, value):
        return queryset.filter(
            Q(sub1=value) | Q(sub2=value) | Q(sub3=value) | Q(sub4=value) | Q(sub5=value)
        )

    def filter_product(self, queryset, name, value):
        return queryset.filter(
            Exists(Purchase.objects.filter(player=OuterRef("pk"), product=value))
        )

    def filter_identifier(self, queryset, name, value):
        return queryset.filter(identifier_query(value))

    def filter_origin(self, queryset, name, value):
        status = Player.AttributionStatus.ATTRIBUTED
        return (
            queryset.filter(attribution_status=status)
            if value == "referred"
            else queryset.exclude(attribution_status=status)
        )

    def filter_kyc(self, queryset, name, value):
        return (
            queryset.filter(kyc_status__isnull=True)
            if value == "none"
            else queryset.filter(kyc_status=value)
        )

    def filter_excluded(self, queryset, name, value):
        return queryset.filter(is_excluded=value == "true")

    def filter_dormant(self, queryset, name, value):
        return queryset.filter(last_deposit_at__lt=timezone.now() - dt.timedelta(days=int(value)))

    def filter_deposits(self, queryset, name, value):
        return _band(queryset, "lifetime_deposits", DEPOSIT_BANDS, value)

    def filter_ngr(self, queryset, name, value):
        return _band(queryset, "ngr", NGR_BANDS, value)
