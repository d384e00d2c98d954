"""Commissions in the admin: plans, the ledger (read-only, exportable), clawback review, statements.

Every write goes through apps.commissions.services; ledger rows cannot be added, changed or
deleted here.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Sum
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from import_export import fields, resources
from import_export.admin import ExportMixin
from import_export.formats.base_formats import CSV, XLSX

from apps.commissions import periods, services
from apps.commissions.models import (
    ClawbackCase,
    ClawbackProposal,
    CommissionEntry,
    InstrumentGroup,
    InstrumentSymbol,
    LotRate,
    PeriodClose,
    Plan,
    PlanAssignment,
    PlanTier,
    Statement,
    StatementRevshare,
)
from apps.commissions.services.plans import assignment_overlap
from apps.core.admin_audit import AuditedAdminMixin


def _adopt(obj, created) -> None:
    for field in obj._meta.concrete_fields:
        setattr(obj, field.attname, getattr(created, field.attname))
    obj._state.adding = False
    obj._state.db = created._state.db


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- instruments and plans --------------------------------------------------------------------


class InstrumentSymbolInline(admin.TabularInline):
    model = InstrumentSymbol
    extra = 0


@admin.register(InstrumentGroup)
class InstrumentGroupAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("code", "name", "symbol_count")
    search_fields = ("code", "name")
    inlines = [InstrumentSymbolInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(n=Count("symbols"))

    @admin.display(description="symbols", ordering="n")
    def symbol_count(self, obj):
        return obj.n


@admin.register(InstrumentSymbol)
class InstrumentSymbolAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("symbol", "group", "contract_size", "spread")
    list_filter = ("group",)
    search_fields = ("symbol",)
    list_select_related = ("group",)
    list_editable = ("group",)


class PlanTierInline(admin.TabularInline):
    model = PlanTier
    extra = 0


class LotRateInline(admin.TabularInline):
    model = LotRate
    extra = 0
    autocomplete_fields = ("group",)


@admin.register(Plan)
class PlanAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("name", "kind", "currency", "cpa_amount", "revshare_percent", "override_percent", "rounding_mode")
    list_filter = ("kind", "currency")
    search_fields = ("name",)
    inlines = [PlanTierInline, LotRateInline]
    fieldsets = (
        (None, {"fields": ("name", "kind", "currency", "rounding_mode")}),
        ("CPA", {"fields": ("cpa_amount", "cpa_min_ftd", "cpa_ftd_sum_24h", "cpa_min_wagering", "cpa_kyc_required",
                            "cpa_window_days", "cpa_hold_days", "cpa_tier_mode", "clawback_window_days")}),
        ("RevShare", {"fields": ("revshare_percent", "deduct_bonuses", "deduct_jackpot", "deduct_taxes",
                                 "deduct_payment_fees", "deduct_chargebacks", "deduct_adjustments",
                                 "admin_fee_percent", "revshare_tier_basis", "revshare_tier_mode", "carryover")}),
        ("Forex", {"fields": ("rebate_side", "min_hold_seconds", "spread_share_percent")}),
        ("Prop firms", {"fields": ("prop_fee_percent", "prop_first_purchase_only", "prop_refund_window_days")}),
        ("Sub-affiliate override", {"fields": ("override_percent", "override_depth")}),
    )

    def has_delete_permission(self, request, obj=None):
        return False  # plans are referenced by the ledger


class PlanAssignmentForm(forms.ModelForm):
    class Meta:
        model = PlanAssignment
        fields = ("affiliate", "brand", "plan", "valid_from", "valid_to")

    def clean(self):
        data = super().clean()
        if self.instance.pk is None and all(data.get(k) for k in ("affiliate", "brand", "valid_from")):
            clash = assignment_overlap(affiliate=data["affiliate"], brand=data["brand"],
                                       valid_from=data["valid_from"], valid_to=data.get("valid_to"))
            if clash is not None:
                raise forms.ValidationError(f"Overlaps {clash.plan} from {clash.valid_from}.")
        return data


@admin.register(PlanAssignment)
class PlanAssignmentAdmin(admin.ModelAdmin):
    form = PlanAssignmentForm
    list_display = ("affiliate", "brand", "plan", "valid_from", "valid_to")
    list_filter = ("brand", "plan")
    search_fields = ("affiliate__name", "brand", "plan__name")
    list_select_related = ("affiliate", "plan")
    raw_id_fields = ("affiliate",)

    def get_readonly_fields(self, request, obj=None):
        return ("affiliate", "brand", "plan", "valid_from", "valid_to") if obj else ()

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if change:
            return
        data = form.cleaned_data
        _adopt(obj, services.plan_assignment_create(
            affiliate=data["affiliate"], brand=data["brand"], plan=data["plan"], valid_from=data["valid_from"],
            valid_to=data.get("valid_to"), acting_user=request.user,
        ))


# --- the ledger -------------------------------------------------------------------------------


class CommissionEntryResource(resources.ModelResource):
    affiliate = fields.Field(attribute="affiliate__name", column_name="affiliate")
    plan = fields.Field(attribute="plan__name", column_name="plan")

    class Meta:
        model = CommissionEntry
        fields = ("id", "created_at", "period", "statement_period", "occurred_at", "kind", "status", "status_reason",
                  "affiliate", "player", "plan", "amount", "currency", "quantity", "rate", "source_event_id",
                  "reverses")
        export_order = fields


class PeriodFilter(admin.SimpleListFilter):
    title = "period"
    parameter_name = "period"

    def lookups(self, request, model_admin):
        months = CommissionEntry.objects.order_by("-period").values_list("period", flat=True).distinct()[:24]
        return [(m.isoformat(), f"{m:%Y-%m}") for m in months]

    def queryset(self, request, queryset):
        return queryset.filter(period=self.value()) if self.value() else queryset


@admin.register(CommissionEntry)
class CommissionEntryAdmin(ExportMixin, ReadOnlyAdmin):
    resource_classes = [CommissionEntryResource]
    # XLSX needs openpyxl (django-import-export[xlsx]); offered as soon as it is installed.
    formats = [CSV, XLSX] if XLSX().is_available() else [CSV]
    change_list_template = "commissions/admin/commissionentry_change_list.html"
    list_display = ("id", "occurred_at", "kind", "status", "affiliate", "player_link", "amount", "currency", "period",
                    "source_event", "status_reason")
    list_filter = ("kind", "status", PeriodFilter, "currency", ("affiliate", admin.RelatedOnlyFieldListFilter))
    search_fields = ("=player__id", "=affiliate__id", "affiliate__name", "=source_event_id", "idempotency_key")
    list_select_related = ("affiliate", "player")
    date_hierarchy = "occurred_at"
    show_full_result_count = False
    readonly_fields = [f.name for f in CommissionEntry._meta.fields]

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="player")
    def player_link(self, obj):
        return obj.player_id or "—"

    @admin.display(description="source event")
    def source_event(self, obj):
        if obj.source_event_id is None:
            return obj.idempotency_key
        url = reverse("admin:integrations_inboundevent_change", args=[obj.source_event_id])
        return format_html('<a href="{}">#{}</a>', url, obj.source_event_id)

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl") if hasattr(response, "context_data") else None
        if changelist is not None:
            response.context_data["ledger_totals"] = list(
                changelist.queryset.order_by().values("currency", "status")
                .annotate(total=Sum("amount"), n=Count("id")).order_by("currency", "status")
            )
        return response


# --- clawback review --------------------------------------------------------------------------


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), help_text="Recorded with the decision.")


class ClawbackProposalInline(admin.TabularInline):
    model = ClawbackProposal
    extra = 0
    can_delete = False
    fields = ("kind", "affiliate", "amount", "currency", "original", "explanation", "booked_entry")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ClawbackCase)
class ClawbackCaseAdmin(admin.ModelAdmin):
    """The "Clawback review" queue for Finance."""

    list_display = ("id", "status", "player", "chargeback_amount", "currency", "chargeback_at", "proposed_total",
                    "decided_by", "decided_at")
    list_filter = ("status", "currency")
    search_fields = ("=player__id", "chargeback_reference", "=chargeback_event_id")
    list_select_related = ("player", "decided_by")
    inlines = [ClawbackProposalInline]
    readonly_fields = ("player", "chargeback_event_id", "chargeback_reference", "chargeback_amount", "currency",
                       "chargeback_at", "status", "decided_by", "decided_at", "decision_reason", "created_at")
    actions = ("approve_cases", "dismiss_cases")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(proposed=Sum("proposals__amount"))

    @admin.display(description="proposed", ordering="proposed")
    def proposed_total(self, obj):
        return obj.proposed

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def _decide(self, request, queryset, *, action: str, decide, verb: str):
        form = ReasonForm(request.POST if "apply" in request.POST else None)
        open_cases = queryset.filter(status=ClawbackCase.Status.OPEN).order_by("pk")
        if form.is_bound and form.is_valid():
            done = 0
            for case in open_cases:
                try:
                    decide(case=case, reason=form.cleaned_data["reason"], acting_user=request.user)
                    done += 1
                except services.ClawbackError as exc:
                    self.message_user(request, str(exc), messages.WARNING)
            self.message_user(request, f"{verb.capitalize()} {done} clawback case(s).", messages.SUCCESS)
            return None
        return TemplateResponse(request, "commissions/admin/reason_form.html", {
            **self.admin_site.each_context(request), "title": f"{verb.capitalize()} clawback cases", "form": form,
            "queryset": open_cases, "action": action, "submit_label": verb.capitalize(), "opts": self.model._meta,
            "intro": "Approving books the proposed negative lines in the current period; dismissing books nothing.",
        })

    @admin.action(description="Approve selected cases (book the clawbacks)", permissions=["change"])
    def approve_cases(self, request, queryset):
        return self._decide(request, queryset, action="approve_cases", decide=services.clawback_case_approve,
                            verb="approved")

    @admin.action(description="Dismiss selected cases (book nothing)", permissions=["change"])
    def dismiss_cases(self, request, queryset):
        return self._decide(request, queryset, action="dismiss_cases", decide=services.clawback_case_dismiss,
                            verb="dismissed")


# --- statements and period close --------------------------------------------------------------


class StatementRevshareInline(admin.TabularInline):
    model = StatementRevshare
    extra = 0
    can_delete = False
    fields = ("plan", "player_count", "ftd_count", "ngr", "carry_in", "base", "commission", "carry_out")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Statement)
class StatementAdmin(ReadOnlyAdmin):
    list_display = ("period", "affiliate", "currency", "total", "status", "approved_by", "approved_at")
    list_filter = ("status", "period", "currency")
    search_fields = ("affiliate__name", "=affiliate__id")
    list_select_related = ("affiliate", "approved_by")
    readonly_fields = ("period", "affiliate", "currency", "status", "total", "lines_by_kind", "created_at",
                       "approved_by", "approved_at")
    inlines = [StatementRevshareInline]
    actions = ("approve_statements",)

    @admin.display(description="lines")
    def lines_by_kind(self, obj):
        ledger_url = reverse("admin:commissions_commissionentry_changelist")
        lines = list(obj.lines.select_related("plan").order_by("kind", "plan_id"))
        for line in lines:
            line.drill_url = (f"{ledger_url}?affiliate__id__exact={obj.affiliate_id}&kind__exact={line.kind}"
                              f"&statement_period={obj.period.isoformat()}&currency__exact={obj.currency}")
        return render_to_string("commissions/admin/statement_lines.html", {"lines": lines, "total": obj.total})

    def has_approve_permission(self, request):
        return request.user.has_perm("commissions.approve_statement")

    @admin.action(description="Approve selected statements", permissions=["approve"])
    def approve_statements(self, request, queryset):
        approved = 0
        for statement in queryset.filter(status=Statement.Status.CLOSED).order_by("pk"):
            services.statement_approve(statement=statement, acting_user=request.user)
            approved += 1
        self.message_user(request, f"Approved {approved} statement(s).", messages.SUCCESS)


class PeriodCloseForm(forms.ModelForm):
    month = forms.CharField(help_text="YYYY-MM (operator time zone). Closing twice changes nothing.")

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
        _adopt(obj, services.statements_close(period=form.cleaned_data["month"], acting_user=request.user))
