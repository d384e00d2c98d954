"""Statements and the period close."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html_join

from apps.accounts import second_factor
from apps.commissions import periods, services
from apps.commissions.admin.common import ReadOnlyAdmin, _adopt
from apps.commissions.models import (
    CommissionEntry,
    CommissionHold,
    PeriodClose,
    Statement,
    StatementRevshare,
)
from apps.core.display import format_money, money_column
from apps.core.story import link

# --- statements and period close --------------------------------------------------------------


class StatementRevshareInline(admin.TabularInline):
    model = StatementRevshare
    extra = 0
    can_delete = False
    fields = (
        "plan",
        "player_count",
        "ftd_count",
        "ngr",
        "carry_in",
        "base",
        "commission",
        "carry_out",
    )
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Statement)
class StatementAdmin(ReadOnlyAdmin):
    list_display = ("period", "affiliate", "total_money", "status", "approved_by", "approved_at")
    total_money = money_column("total", description="Total")
    list_filter = ("status", "period", "currency")
    search_fields = ("affiliate__name", "=affiliate__id")
    list_select_related = ("affiliate", "approved_by")
    readonly_fields = (
        "period",
        "affiliate",
        "currency",
        "status",
        "total",
        "lines_by_kind",
        "held_lines",
        "adjusted_by",
        "created_at",
        "approved_by",
        "approved_at",
    )
    inlines = [StatementRevshareInline]
    actions = ("approve_statements",)

    @admin.display(description="held lines (not paid until released)")
    def held_lines(self, obj):
        """This statement's lines under a live hold (a risk case placed after the close): a payout
        run leaves the statement unpaid while any is held."""
        rows = list(
            CommissionHold.objects.filter(
                released_at__isnull=True,
                entry__statement_period=obj.period,
                entry__affiliate_id=obj.affiliate_id,
                entry__currency=obj.currency,
                entry__status=CommissionEntry.Status.APPROVED,
            )
            .select_related("entry")
            .order_by("entry_id")
        )
        if not rows:
            return "—"
        return format_html_join(
            "<br>",
            "{} {}: held: {}",
            (
                (
                    link("commissions.commissionentry", h.entry_id, f"line {h.entry_id}"),
                    format_money(h.entry.amount, h.entry.currency),
                    h.label,
                )
                for h in rows
            ),
        )

    @admin.display(description="adjusted by (later restatements of this period)")
    def adjusted_by(self, obj):
        return render_to_string(
            "commissions/admin/statement_adjusted_by.html",
            {"adjustments": services.statement_adjustments(obj)},
        )

    @admin.display(description="lines")
    def lines_by_kind(self, obj):
        ledger_url = reverse("admin:commissions_commissionentry_changelist")
        lines = list(
            obj.lines.select_related("plan").order_by("kind", "plan_id", "restates_period")
        )
        for line in lines:
            line.drill_url = (
                f"{ledger_url}?affiliate__id__exact={obj.affiliate_id}&kind__exact={line.kind}"
                f"&statement_period={obj.period.isoformat()}&currency__exact={obj.currency}"
            )
        return render_to_string(
            "commissions/admin/statement_lines.html",
            {"lines": lines, "total": obj.total, "currency": obj.currency},
        )

    def has_approve_permission(self, request):
        return request.user.has_perm("commissions.approve_statement")

    @admin.action(description="Approve selected statements", permissions=["approve"])
    @second_factor.approval_action
    def approve_statements(self, request, queryset):
        approved = 0
        for statement in queryset.filter(status=Statement.Status.CLOSED).order_by("pk"):
            services.statement_approve(statement=statement, acting_user=request.user)
            approved += 1
        self.message_user(request, f"Approved {approved} statement(s).", messages.SUCCESS)


class PeriodCloseForm(forms.ModelForm):
    month = forms.CharField(
        help_text="YYYY-MM (operator time zone). Closing twice changes nothing."
    )

    class Meta:
        model = PeriodClose
        fields = ()

    def clean_month(self):
        try:
            period = periods.parse_period(self.cleaned_data["month"])
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc
        if periods.period_bounds(period)[1] > timezone.now():
            raise forms.ValidationError(f"{period:%Y-%m} has not ended yet.")
        return period


@admin.register(PeriodClose)
class PeriodCloseAdmin(admin.ModelAdmin):
    list_display = ("period", "closed_at", "closed_by", "summary")
    readonly_fields = ("period", "closed_at", "closed_by", "summary")

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = PeriodCloseForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        return ("month",) if obj is None else self.readonly_fields

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        _adopt(
            obj,
            services.statements_close(period=form.cleaned_data["month"], acting_user=request.user),
        )
