"""Retention's player list: the retention filters, aggregates per row, and minimised exports."""

from __future__ import annotations

from django.contrib import admin
from import_export import fields, resources
from import_export.admin import ExportMixin

from apps.compliance import retention
from apps.core.filters import filterset_list_filter
from apps.core.roles import FINANCE, RETENTION
from apps.monitoring.models import RetentionPlayer

EXPORT_ROLES = (RETENTION, FINANCE)


def _filterset_list_filter(param: str, title: str, choices: list[tuple[str, str]]):
    """An admin list filter driven by one RetentionPlayerFilter field, the API's own definition."""
    return filterset_list_filter(filterset_class=retention.RetentionPlayerFilter, name=param, title=title,
                                 lookups=lambda request, model_admin: choices)


RETENTION_FILTERS = [
    _filterset_list_filter("origin", "origin", [("referred", "Referred"), ("organic", "Organic")]),
    _filterset_list_filter("kyc", "KYC", [("passed", "Passed"), ("pending", "Pending"), ("failed", "Failed"),
                                          ("none", "No KYC")]),
    _filterset_list_filter("excluded", "self-excluded now", [("true", "Yes"), ("false", "No")]),
    _filterset_list_filter("dormant_days", "dormant (no deposit for)", [("30", "30+ days"), ("60", "60+ days"),
                                                                         ("90", "90+ days"), ("180", "180+ days")]),
    _filterset_list_filter("deposits_band", "lifetime deposits", [(k, k) for k in retention.DEPOSIT_BANDS]),
    _filterset_list_filter("ngr_band", "NGR", [(k, k) for k in retention.NGR_BANDS]),
]


class RetentionPlayerResource(resources.ModelResource):
    """Minimised personal data: ids, brand, country, dates, status and aggregates; no names or e-mails."""

    affiliate_id = fields.Field(attribute="affiliate_id", column_name="affiliate_id")
    campaign_id = fields.Field(attribute="campaign_id", column_name="campaign_id")
    first_deposit_at = fields.Field(attribute="first_deposit_at", column_name="first_deposit_at")
    last_deposit_at = fields.Field(attribute="last_deposit_at", column_name="last_deposit_at")
    lifetime_deposits = fields.Field(attribute="lifetime_deposits", column_name="lifetime_deposits")
    ngr = fields.Field(attribute="ngr", column_name="ngr")
    kyc_status = fields.Field(attribute="kyc_status", column_name="kyc_status")
    is_excluded = fields.Field(attribute="is_excluded", column_name="self_excluded")

    class Meta:
        model = RetentionPlayer
        fields = ("id", "brand", "country", "registered_at", "attribution_status", "affiliate_id", "campaign_id",
                  "first_deposit_at", "last_deposit_at", "lifetime_deposits", "ngr", "kyc_status", "is_excluded")
        export_order = fields


@admin.register(RetentionPlayer)
class RetentionPlayerAdmin(ExportMixin, admin.ModelAdmin):
    resource_classes = [RetentionPlayerResource]
    list_display = ("id", "brand", "country", "attribution_status", "affiliate", "campaign", "registered_at",
                    "first_deposit_at", "last_deposit_at", "lifetime_deposits", "ngr", "kyc_status", "is_excluded")
    list_filter = (
        *RETENTION_FILTERS,
        ("affiliate", admin.RelatedOnlyFieldListFilter),
        ("campaign", admin.RelatedOnlyFieldListFilter),
        "brand",
        "country",
        ("registered_at", admin.DateFieldListFilter),
    )
    list_select_related = ("affiliate", "campaign")
    show_full_result_count = False
    list_per_page = 100

    def get_queryset(self, request):
        return retention.with_retention_figures(super().get_queryset(request))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_export_permission(self, request):
        user = request.user
        return user.is_active and (user.is_superuser or user.groups.filter(name__in=EXPORT_ROLES).exists())

    @admin.display(ordering="first_deposit_at")
    def first_deposit_at(self, obj):
        return obj.first_deposit_at

    @admin.display(ordering="last_deposit_at")
    def last_deposit_at(self, obj):
        return obj.last_deposit_at

    @admin.display(ordering="lifetime_deposits")
    def lifetime_deposits(self, obj):
        return obj.lifetime_deposits.normalize() if obj.lifetime_deposits is not None else None

    @admin.display(ordering="ngr", description="NGR")
    def ngr(self, obj):
        return obj.ngr.quantize(obj.ngr.__class__("0.01")) if obj.ngr is not None else None

    @admin.display(description="KYC")
    def kyc_status(self, obj):
        return obj.kyc_status or "-"

    @admin.display(boolean=True, description="excluded")
    def is_excluded(self, obj):
        return obj.is_excluded
