"""Instruments, commission plans (tiers and lot rates frozen once accrued) and plan assignments."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Count
from django.template.loader import render_to_string

from apps.commissions import services
from apps.commissions.admin.common import _adopt
from apps.commissions.models import (
    InstrumentGroup,
    InstrumentSymbol,
    LotRate,
    Plan,
    PlanAssignment,
    PlanTier,
)
from apps.commissions.services.plans import assignment_overlap
from apps.core.admin_audit import AuditedAdminMixin
from apps.core.display import money_column

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


class _FrozenWhenAccruedInline(admin.TabularInline):
    """Tiers and lot rates of a version that has accrued are part of its terms: read-only."""

    extra = 0

    def _frozen(self, obj) -> bool:
        return obj is not None and services.plan_has_accrued(obj)

    def has_add_permission(self, request, obj=None):
        return not self._frozen(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return not self._frozen(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return not self._frozen(obj) and super().has_delete_permission(request, obj)


class PlanTierInline(_FrozenWhenAccruedInline):
    model = PlanTier


class LotRateInline(_FrozenWhenAccruedInline):
    model = LotRate
    autocomplete_fields = ("group",)


class PlanForm(forms.ModelForm):
    new_version_from = forms.DateField(
        required=False,
        help_text="This plan has accrued commission, so its terms are never edited in place: the "
        "changes above become a new version in force from this date (operator time zone).",
    )

    class Meta:
        model = Plan
        fields = ("name", *services.PLAN_TERM_FIELDS)


@admin.register(Plan)
class PlanAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """Plans and their versions. A version that has accrued anything is read-only; saving changes
    to it creates the next version (`plan_version_create`) from the date given. Every write goes
    through apps.commissions.services.plans and is audited."""

    form = PlanForm
    list_display = (
        "name",
        "version",
        "effective_from",
        "kind",
        "cpa_money",
        "revshare_percent",
        "override_percent",
        "rounding_mode",
    )
    cpa_money = money_column("cpa_amount", description="CPA amount")
    list_filter = ("kind", "currency")
    list_select_related = ("family",)
    search_fields = ("name",)
    inlines = [PlanTierInline, LotRateInline]
    readonly_fields = ("family", "version", "effective_from", "versions_applied")
    fieldsets = (
        (None, {"fields": ("name", "kind", "currency", "rounding_mode")}),
        (
            "Version",
            {
                "fields": (
                    "family",
                    "version",
                    "effective_from",
                    "versions_applied",
                    "new_version_from",
                )
            },
        ),
        (
            "CPA",
            {
                "fields": (
                    "cpa_amount",
                    "cpa_min_ftd",
                    "cpa_ftd_sum_24h",
                    "cpa_min_wagering",
                    "cpa_kyc_required",
                    "cpa_window_days",
                    "cpa_hold_days",
                    "cpa_tier_mode",
                    "clawback_window_days",
                )
            },
        ),
        (
            "RevShare",
            {
                "fields": (
                    "revshare_percent",
                    "deduct_bonuses",
                    "deduct_jackpot",
                    "deduct_taxes",
                    "deduct_payment_fees",
                    "deduct_chargebacks",
                    "deduct_adjustments",
                    "admin_fee_percent",
                    "revshare_tier_basis",
                    "revshare_tier_mode",
                    "carryover",
                )
            },
        ),
        ("Forex", {"fields": ("rebate_side", "min_hold_seconds", "spread_share_percent")}),
        (
            "Prop firms",
            {"fields": ("prop_fee_percent", "prop_first_purchase_only", "prop_refund_window_days")},
        ),
        ("Sub-affiliate override", {"fields": ("override_percent", "override_depth")}),
    )

    def get_fieldsets(self, request, obj=None):
        if obj is None:  # a new plan is its own version 1
            return [
                (
                    name,
                    {
                        "fields": [
                            f
                            for f in opts["fields"]
                            if f
                            not in (
                                "family",
                                "version",
                                "effective_from",
                                "versions_applied",
                                "new_version_from",
                            )
                        ]
                    },
                )
                for name, opts in self.fieldsets
                if name != "Version"
            ]
        return self.fieldsets

    @admin.display(description="versions and what each applied to")
    def versions_applied(self, obj):
        return render_to_string(
            "commissions/admin/plan_versions.html",
            {"versions": services.plan_versions_applied(obj), "current": obj.pk},
        )

    def save_model(self, request, obj, form, change):
        if not change:
            super().save_model(request, obj, form, change)
            return
        changes = {
            name: form.cleaned_data[name]
            for name in form.changed_data
            if name in services.PLAN_TERM_FIELDS or name == "name"
        }
        stored = Plan.objects.get(pk=obj.pk)
        try:
            if services.plan_has_accrued(stored):
                effective_from = form.cleaned_data.get("new_version_from")
                if effective_from is None:
                    raise services.PlanError(
                        "This plan has accrued commission: give the date the new version "
                        "takes effect."
                    )
                changes.pop("name", None)
                created = services.plan_version_create(
                    plan=stored,
                    effective_from=effective_from,
                    changes=changes,
                    acting_user=request.user,
                )
                self.message_user(
                    request,
                    f"Created {created} (version {created.version}) in force from "
                    f"{effective_from}; version {stored.version} is unchanged.",
                    messages.SUCCESS,
                )
                _adopt(obj, stored)
            else:
                _adopt(
                    obj,
                    services.plan_update(plan=stored, changes=changes, acting_user=request.user),
                )
        except services.PlanError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            _adopt(obj, stored)

    def save_related(self, request, form, formsets, change):
        if change and services.plan_has_accrued(form.instance):
            for formset in formsets:  # read-only inlines: nothing to save, nothing to log
                formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
            return
        super().save_related(request, form, formsets, change)

    def has_delete_permission(self, request, obj=None):
        return False  # plans are referenced by the ledger


class PlanAssignmentForm(forms.ModelForm):
    class Meta:
        model = PlanAssignment
        fields = ("affiliate", "brand", "plan", "valid_from", "valid_to")

    def clean(self):
        data = super().clean()
        if self.instance.pk is None and all(
            data.get(k) for k in ("affiliate", "brand", "valid_from")
        ):
            clash = assignment_overlap(
                affiliate=data["affiliate"],
                brand=data["brand"],
                valid_from=data["valid_from"],
                valid_to=data.get("valid_to"),
            )
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
        _adopt(
            obj,
            services.plan_assignment_create(
                affiliate=data["affiliate"],
                brand=data["brand"],
                plan=data["plan"],
                valid_from=data["valid_from"],
                valid_to=data.get("valid_to"),
                acting_user=request.user,
            ),
        )
