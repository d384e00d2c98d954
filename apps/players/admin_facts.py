"""Player facts in the admin: deposits, revenue reports, trades, purchases, chargebacks.

View only. Facts are recorded by the inbound pipeline (apps.players.services) and never edited
here; a wrong fact is corrected by the source system sending a new one (a restated revenue
report, a refund, a chargeback). Each row links to the inbound event that recorded it.
"""

from __future__ import annotations

from django.contrib import admin
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, format_html_join

from apps.core.admin_mixins import ReadOnlyAdminMixin
from apps.core.display import format_money, money_column
from apps.players.facts import Chargeback, Deposit, Purchase, RevenueReport, Trade


def _event_link(event_id: int | None):
    if event_id is None:
        return "-"
    try:
        url = reverse("admin:integrations_inboundevent_change", args=[event_id])
    except NoReverseMatch:  # the integrations admin is not installed in this deployment
        return f"#{event_id}"
    return format_html('<a href="{}">#{}</a>', url, event_id)


class ReadOnlyFactAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Every field shown, none editable; no add, change or delete for anyone."""

    list_select_related = ("player",)
    show_full_result_count = False  # fact tables are large
    list_per_page = 100

    def get_readonly_fields(self, request, obj=None):
        own = [field.name for field in self.model._meta.fields]
        return [
            *own,
            *(name for name in super().get_readonly_fields(request, obj) if name not in own),
        ]

    @admin.display(description="Source event", ordering="source_event_id")
    def source_event(self, obj):
        return _event_link(obj.source_event_id)


class ChargebackInline(admin.TabularInline):
    model = Chargeback
    fields = ("chargeback_id", "system", "amount", "currency", "reason", "occurred_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Deposit)
class DepositAdmin(ReadOnlyFactAdmin):
    list_display = (
        "deposit_id",
        "system",
        "player",
        "amount_display",
        "is_first",
        "occurred_at",
        "source_event",
    )
    amount_display = money_column("amount")
    list_filter = ("is_first", "system", "currency", ("occurred_at", admin.DateFieldListFilter))
    search_fields = ("=player__id", "=deposit_id", "=player__identifier_mappings__external_id")
    date_hierarchy = "occurred_at"
    readonly_fields = ("source_event",)
    inlines = (ChargebackInline,)


@admin.register(RevenueReport)
class RevenueReportAdmin(ReadOnlyFactAdmin):
    list_display = (
        "report_id",
        "system",
        "player",
        "date",
        "stakes_display",
        "winnings_display",
        "ggr_column",
        "is_current",
        "superseded_by",
        "occurred_at",
        "source_event",
    )
    stakes_display = money_column("stakes")
    winnings_display = money_column("winnings")
    list_filter = ("is_current", "system", "currency", ("date", admin.DateFieldListFilter))
    search_fields = ("=player__id", "=report_id", "=player__identifier_mappings__external_id")
    list_select_related = ("player", "superseded_by")
    date_hierarchy = "date"
    readonly_fields = ("ggr_column", "history", "source_event")

    @admin.display(description="GGR")
    def ggr_column(self, obj):
        return format_money(obj.ggr, obj.currency)

    @admin.display(description="Reports for this player and day (newest first)")
    def history(self, obj):
        # Detail page only: every report for the day, so a restatement is read with what it
        # replaced.
        reports = RevenueReport.objects.filter(player_id=obj.player_id, date=obj.date).order_by(
            "-occurred_at", "-pk"
        )
        rows = format_html_join(
            "",
            "<tr><td><a "
            "href='{}'>{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    reverse("admin:players_revenuereport_change", args=[report.pk]),
                    report.report_id,
                    report.occurred_at.isoformat(),
                    format_money(report.stakes, report.currency),
                    format_money(report.winnings, report.currency),
                    format_money(report.ggr, report.currency),
                    "current" if report.is_current else "superseded",
                    "this report" if report.pk == obj.pk else "",
                )
                for report in reports
            ),
        )
        return format_html(
            "<table><thead><tr><th>Report</th><th>Produced "
            "at</th><th>Stakes</th><th>Winnings</th><th>GGR</th>"
            "<th>State</th><th></th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )


@admin.register(Trade)
class TradeAdmin(ReadOnlyFactAdmin):
    list_display = (
        "deal_id",
        "platform",
        "server",
        "login",
        "player",
        "symbol",
        "entry",
        "volume_lots",
        "profit_display",
        "closed_at",
        "source_event",
    )
    profit_display = money_column("profit")
    list_filter = ("platform", "entry", "server", ("closed_at", admin.DateFieldListFilter))
    search_fields = ("=player__id", "=deal_id", "=position_id", "=login", "=symbol")
    date_hierarchy = "closed_at"
    readonly_fields = ("source_event",)


@admin.register(Purchase)
class PurchaseAdmin(ReadOnlyFactAdmin):
    list_display = (
        "purchase_id",
        "system",
        "player",
        "product",
        "amount_display",
        "status",
        "is_first_purchase",
        "purchased_at",
        "refunded_at",
        "source_event",
    )
    amount_display = money_column("amount")
    list_filter = (
        "status",
        "is_first_purchase",
        "system",
        "currency",
        ("purchased_at", admin.DateFieldListFilter),
    )
    search_fields = (
        "=player__id",
        "=purchase_id",
        "=player__identifier_mappings__external_id",
        "product",
    )
    date_hierarchy = "purchased_at"
    readonly_fields = ("source_event", "refund_event")

    @admin.display(description="Refund event")
    def refund_event(self, obj):
        return _event_link(obj.refund_source_event_id)


@admin.register(Chargeback)
class ChargebackAdmin(ReadOnlyFactAdmin):
    list_display = (
        "chargeback_id",
        "system",
        "player",
        "amount_display",
        "deposit",
        "deposit_external_id",
        "reason",
        "occurred_at",
        "source_event",
    )
    amount_display = money_column("amount")
    list_filter = (
        "system",
        "currency",
        ("deposit", admin.EmptyFieldListFilter),
        ("occurred_at", admin.DateFieldListFilter),
    )
    search_fields = (
        "=player__id",
        "=chargeback_id",
        "=deposit_external_id",
        "=player__identifier_mappings__external_id",
    )
    list_select_related = ("player", "deposit")
    date_hierarchy = "occurred_at"
    readonly_fields = ("source_event",)
