"""The ledger: commission entries, read-only and exportable."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count, OuterRef, Subquery, Sum
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from import_export import fields
from import_export.admin import ExportMixin
from import_export.formats.base_formats import CSV, XLSX

from apps.commissions.admin.common import ReadOnlyAdmin
from apps.commissions.models import (
    CommissionEntry,
    CommissionHold,
    Statement,
)
from apps.core.display import format_money, money_column
from apps.core.exports import SafeExportResource
from apps.core.story import link

# --- the ledger -------------------------------------------------------------------------------


class CommissionEntryResource(SafeExportResource):
    affiliate = fields.Field(attribute="affiliate__name", column_name="affiliate")
    plan = fields.Field(attribute="plan__name", column_name="plan")

    class Meta:
        model = CommissionEntry
        fields = (
            "id",
            "created_at",
            "period",
            "statement_period",
            "occurred_at",
            "kind",
            "status",
            "status_reason",
            "affiliate",
            "player",
            "plan",
            "amount",
            "currency",
            "quantity",
            "rate",
            "source_event_id",
            "reverses",
        )
        export_order = fields


class PeriodFilter(admin.SimpleListFilter):
    title = "period"
    parameter_name = "period"

    def lookups(self, request, model_admin):
        months = (
            CommissionEntry.objects.order_by("-period")
            .values_list("period", flat=True)
            .distinct()[:24]
        )
        return [(m.isoformat(), f"{m:%Y-%m}") for m in months]

    def queryset(self, request, queryset):
        return queryset.filter(period=self.value()) if self.value() else queryset


@admin.register(CommissionEntry)
class CommissionEntryAdmin(ExportMixin, ReadOnlyAdmin):
    resource_classes = [CommissionEntryResource]
    # XLSX needs openpyxl (django-import-export[xlsx]); offered as soon as it is installed.
    formats = [CSV, XLSX] if XLSX().is_available() else [CSV]
    change_list_template = "commissions/admin/commissionentry_change_list.html"
    list_display = (
        "id",
        "occurred_at",
        "kind",
        "status",
        "affiliate",
        "player_link",
        "amount_money",
        "period",
        "source_event",
        "status_reason",
        "held",
    )
    amount_money = money_column("amount")
    list_filter = (
        "kind",
        "status",
        PeriodFilter,
        "currency",
        ("affiliate", admin.RelatedOnlyFieldListFilter),
    )
    search_fields = (
        "=player__id",
        "=affiliate__id",
        "affiliate__name",
        "=source_event_id",
        "idempotency_key",
    )
    list_select_related = ("affiliate", "player")
    date_hierarchy = "occurred_at"
    show_full_result_count = False
    readonly_fields = [
        *(f.name for f in CommissionEntry._meta.fields),
        "held",
        "statement_and_payouts",
    ]

    def get_queryset(self, request):
        # The live hold's label in the same query (no per-row lookup).
        live = CommissionHold.objects.filter(entry_id=OuterRef("pk"), released_at__isnull=True)
        return super().get_queryset(request).annotate(held_by=Subquery(live.values("label")[:1]))

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="held")
    def held(self, obj):
        """A live hold keeps the line out of statements and payouts (e.g. a risk case)."""
        label = getattr(obj, "held_by", None)
        return f"held: {label}" if label else ""

    @admin.display(description="statement and payouts")
    def statement_and_payouts(self, obj):
        """The statement this line is carried by, and the payouts that pay that statement."""
        if obj.statement_period is None:
            return "— (not on a statement: only approved lines are)"
        statement = (
            Statement.objects.filter(
                affiliate_id=obj.affiliate_id, period=obj.statement_period, currency=obj.currency
            )
            .prefetch_related("payout_allocations__payout")
            .first()
        )
        if statement is None:
            return f"{obj.statement_period:%Y-%m} (its month is not closed yet)"
        parts = [link("commissions.statement", statement.pk, f"Statement {statement.period:%Y-%m}")]
        for allocation in statement.payout_allocations.all():
            payout = allocation.payout
            parts.append(
                format_html(
                    "{} ({})",
                    link("payouts.payout", payout.pk, payout.reference),
                    payout.get_status_display(),
                )
            )
        return format_html_join(" → ", "{}", ((part,) for part in parts))

    @admin.display(description="player")
    def player_link(self, obj):
        if obj.player_id is None:
            return "—"
        return format_html(
            '<a href="{}">#{}</a>',
            reverse("admin:players_player_change", args=[obj.player_id]),
            obj.player_id,
        )

    @admin.display(description="source event")
    def source_event(self, obj):
        if obj.source_event_id is None:
            return obj.idempotency_key
        url = reverse("admin:integrations_inboundevent_change", args=[obj.source_event_id])
        return format_html('<a href="{}">#{}</a>', url, obj.source_event_id)

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        changelist = (
            getattr(response, "context_data", {}).get("cl")
            if hasattr(response, "context_data")
            else None
        )
        if changelist is not None:
            response.context_data["ledger_totals"] = list(
                changelist.queryset.order_by()
                .values("currency", "status")
                .annotate(total=Sum("amount"), n=Count("id"))
                .order_by("currency", "status")
            )
            for row in response.context_data["ledger_totals"]:
                row["total_money"] = format_money(row["total"], row["currency"])
        return response
