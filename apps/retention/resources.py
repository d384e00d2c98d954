"""Retention's export: minimised personal data per player, the columns the retention admin's
export offers (apps/retention/admin.py), and the identifier annotations its rows read."""

from __future__ import annotations

from decimal import Decimal

from django.contrib.postgres.aggregates import StringAgg
from django.db.models import OuterRef, Subquery, Value
from django.db.models.functions import Concat
from import_export import fields, widgets

from apps.core.exports import SafeExportResource
from apps.mappings.models import IdentifierMapping
from apps.retention.models import RetentionPlayer

CRM_SYSTEM = "crm"


def identifiers_annotations() -> dict:
    """crm_id (the CRM's id) and all_identifiers ("system:id; ...") of each player."""
    mappings = IdentifierMapping.objects.filter(player=OuterRef("pk"), retired_at__isnull=True)
    return {
        "crm_id": Subquery(
            mappings.filter(system=CRM_SYSTEM).order_by("pk").values("external_id")[:1]
        ),
        "all_identifiers": Subquery(
            mappings.order_by()
            .values("player")
            .annotate(
                v=StringAgg(
                    Concat("system", Value(":"), "external_id"),
                    delimiter="; ",
                    ordering=("system",),
                )
            )
            .values("v")
        ),
    }


class IsoDateWidget(widgets.Widget):
    """An aware time as its ISO date (UTC): the same format in every date column."""

    def render(self, value, obj=None, **kwargs):
        return value.date().isoformat() if value else ""


class AmountWidget(widgets.DecimalWidget):
    """An amount rounded to two decimals (the currency is its own column); stays a number."""

    def render(self, value, obj=None, **kwargs):
        return super().render(
            value.quantize(Decimal("0.01")) if value is not None else None, obj, **kwargs
        )


class RetentionPlayerResource(SafeExportResource):
    """Minimised personal data: identifiers, brand, country, dates, status and aggregates; no names
    or e-mails (the CRM holds those, under its own consent rules)."""

    player_id = fields.Field(attribute="id", column_name="player_id")
    crm_id = fields.Field(attribute="crm_id", column_name="crm_id")
    identifiers = fields.Field(attribute="all_identifiers", column_name="identifiers")
    affiliate = fields.Field(attribute="affiliate__name", column_name="affiliate")
    campaign = fields.Field(attribute="campaign__name", column_name="campaign")
    registered_on = fields.Field(
        attribute="registered_at", column_name="registered_on", widget=IsoDateWidget()
    )
    first_deposit_on = fields.Field(
        attribute="first_deposit_at", column_name="first_deposit_on", widget=IsoDateWidget()
    )
    last_deposit_on = fields.Field(
        attribute="last_deposit_at", column_name="last_deposit_on", widget=IsoDateWidget()
    )
    last_activity_on = fields.Field(
        attribute="last_activity_at", column_name="last_activity_on", widget=IsoDateWidget()
    )
    currency = fields.Field(attribute="currency", column_name="currency")
    lifetime_deposits = fields.Field(
        attribute="lifetime_deposits", column_name="lifetime_deposits", widget=AmountWidget()
    )
    ngr = fields.Field(attribute="ngr", column_name="ngr", widget=AmountWidget())
    kyc_status = fields.Field(attribute="kyc_status", column_name="kyc_status")
    self_excluded = fields.Field(attribute="is_excluded", column_name="self_excluded")

    class Meta:
        model = RetentionPlayer
        fields = (
            "player_id",
            "crm_id",
            "identifiers",
            "affiliate",
            "campaign",
            "brand",
            "country",
            "registered_on",
            "first_deposit_on",
            "last_deposit_on",
            "last_activity_on",
            "currency",
            "lifetime_deposits",
            "ngr",
            "kyc_status",
            "self_excluded",
        )
        export_order = fields
