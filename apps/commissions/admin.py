"""Commissions in the admin: plans, the ledger (read-only, exportable), clawback review, statements.

Every write goes through apps.commissions.services; ledger rows cannot be added, changed or
deleted here.
"""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, OuterRef, Subquery, Sum
from django.http import Http404, HttpResponseRedirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from import_export import fields
from import_export.admin import ExportMixin
from import_export.formats.base_formats import CSV, XLSX

from apps.accounts import second_factor
from apps.commissions import periods, services
from apps.commissions.models import (
    ClawbackCase,
    ClawbackCaseEvent,
    ClawbackProposal,
    CommissionEntry,
    CommissionHold,
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
from apps.core.admin_mixins import ReadOnlyAdminMixin
from apps.core.display import format_money, money_column
from apps.core.exports import SafeExportResource
from apps.core.story import link


def _adopt(obj, created) -> None:
    for field in obj._meta.concrete_fields:
        setattr(obj, field.attname, getattr(created, field.attname))
    obj._state.adding = False
    obj._state.db = created._state.db


class ReadOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Viewed only: ledger rows, statements and clawback history change through services."""


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


# --- clawback review --------------------------------------------------------------------------


class ReasonForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), help_text="Recorded with the decision."
    )


class ClawbackProposalInline(admin.TabularInline):
    model = ClawbackProposal
    extra = 0
    can_delete = False
    fields = ("kind", "affiliate", "amount", "currency", "original", "explanation", "booked_entry")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class ClawbackCaseEventInline(admin.TabularInline):
    """The case's history: the report that opened it and every repeat of the same chargeback."""

    model = ClawbackCaseEvent
    extra = 0
    can_delete = False
    verbose_name_plural = "history (reports of this chargeback)"
    fields = (
        "kind",
        "system",
        "source_event_id",
        "amount",
        "currency",
        "occurred_at",
        "recorded_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ClawbackCase)
class ClawbackCaseAdmin(admin.ModelAdmin):
    """The "Clawback review" queue for Finance: decide one case from its page, or several from the
    list; either way a confirmation page first shows what will be booked, then asks for a reason."""

    list_display = (
        "id",
        "status",
        "player",
        "chargeback_money",
        "chargeback_at",
        "proposed_money",
        "decided_by",
        "decided_at",
    )
    list_filter = ("status", "currency")
    search_fields = (
        "=player__id",
        "=chargeback_id",
        "chargeback_reference",
        "=chargeback_event_id",
    )
    list_select_related = ("player", "decided_by")
    inlines = [ClawbackProposalInline, ClawbackCaseEventInline]
    readonly_fields = (
        "player",
        "chargeback_id",
        "chargeback_event_id",
        "chargeback_reference",
        "chargeback_money",
        "chargeback_at",
        "status",
        "decided_by",
        "decided_at",
        "decision_reason",
        "created_at",
    )
    fields = readonly_fields
    actions = ("approve_cases", "dismiss_cases")
    change_form_template = "commissions/admin/clawbackcase_change_form.html"

    # (service, action name, imperative, past tense, what it books)
    DECISIONS = {
        "approve": (
            services.clawback_case_approve,
            "approve_cases",
            "Approve",
            "approved",
            "Approving books the proposed negative lines below in the current period ({period}), each "
            "referencing the line it claws back.",
        ),
        "dismiss": (
            services.clawback_case_dismiss,
            "dismiss_cases",
            "Dismiss",
            "dismissed",
            "Dismissing books nothing; the decision, you and your reason are recorded.",
        ),
    }

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(proposed=Sum("proposals__amount"))

    def get_urls(self):
        from django.urls import path

        decide = self.admin_site.admin_view(self.decide_view)
        return [
            path("<int:pk>/decide/<str:decision>/", decide, name="commissions_clawbackcase_decide"),
            *super().get_urls(),
        ]

    @admin.display(description="chargeback", ordering="chargeback_amount")
    def chargeback_money(self, obj):
        return format_money(obj.chargeback_amount, obj.currency)

    @admin.display(description="proposed", ordering="proposed")
    def proposed_money(self, obj):
        proposed = getattr(obj, "proposed", None)
        return format_money(proposed, obj.currency) if proposed is not None else "nothing"

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def change_view(self, request, object_id, form_url="", extra_context=None):
        case = self.get_object(request, object_id)
        can_decide = bool(
            case
            and case.status == ClawbackCase.Status.OPEN
            and self.has_change_permission(request, case)
        )
        return super().change_view(
            request, object_id, form_url, {**(extra_context or {}), "can_decide": can_decide}
        )

    def decide_view(self, request, pk: int, decision: str):
        """One case, from its page: the same confirmation and service as the list's actions."""
        if decision not in self.DECISIONS:
            raise Http404("No such decision.")
        case = self.get_object(request, str(pk))
        if case is None:
            raise Http404("No such clawback case.")
        if not self.has_change_permission(request, case):
            raise PermissionDenied(
                "Deciding clawback cases needs Finance's change permission on clawback cases."
            )
        response = self._decide(request, ClawbackCase.objects.filter(pk=case.pk), decision=decision)
        return response or HttpResponseRedirect(
            reverse("admin:commissions_clawbackcase_change", args=[case.pk])
        )

    def _decide(self, request, queryset, *, decision: str):
        decide, action, imperative, past, books = self.DECISIONS[decision]
        form = ReasonForm(request.POST if "apply" in request.POST else None)
        cases = list(
            queryset.filter(status=ClawbackCase.Status.OPEN)
            .select_related("player")
            .order_by("pk")
            .prefetch_related("proposals__affiliate", "proposals__original")
        )
        skipped = queryset.exclude(status=ClawbackCase.Status.OPEN).count()
        if not cases:
            self.message_user(
                request, "None of the selected cases is open: nothing to decide.", messages.WARNING
            )
            return None
        if form.is_bound and form.is_valid():
            done = 0
            for case in cases:
                try:
                    decide(case=case, reason=form.cleaned_data["reason"], acting_user=request.user)
                    done += 1
                except services.ClawbackError as exc:
                    self.message_user(request, f"Case {case.pk}: {exc}", messages.WARNING)
            if done:
                self.message_user(
                    request, f"{past.capitalize()} {done} clawback case(s).", messages.SUCCESS
                )
            return None
        totals: dict[str, Decimal] = {}
        for case in cases:
            for proposal in case.proposals.all():
                totals[proposal.currency] = (
                    totals.get(proposal.currency, Decimal(0)) + proposal.amount
                )
        return TemplateResponse(
            request,
            "commissions/admin/clawback_decide.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "form": form,
                "title": f"{imperative} {len(cases)} clawback case(s)?",
                "cases": cases,
                "action": action,
                "decision": decision,
                "submit_label": f"{imperative} and record the reason",
                "intro": books.format(period=periods.period_of(timezone.now()).strftime("%Y-%m")),
                "books_lines": decision == "approve",
                "totals": [
                    format_money(amount, currency) for currency, amount in sorted(totals.items())
                ],
                "skipped": skipped,
            },
        )

    @admin.action(
        description="Approve selected cases (book the clawbacks)…", permissions=["change"]
    )
    def approve_cases(self, request, queryset):
        return self._decide(request, queryset, decision="approve")

    @admin.action(description="Dismiss selected cases (book nothing)…", permissions=["change"])
    def dismiss_cases(self, request, queryset):
        return self._decide(request, queryset, decision="dismiss")


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


from apps.commissions import story_panels  # noqa: E402,F401  (the player page's ledger panels)
