"""Finance admin: payout methods, FX rates, payout runs, all payouts, the approval queue (bulk
approve with a confirmation page), the failed-payout queue, and each payout's full history.

Every button and action calls the same service the rest of the system uses; refused transitions
come back as clear messages.
"""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from import_export.admin import ImportExportModelAdmin

from apps.accounts import second_factor
from apps.core.admin_audit import AuditedAdminMixin
from apps.core.admin_mixins import ReadOnlyAdminMixin
from apps.core.display import format_money, format_rate, money_column
from apps.core.story import admin_url, link
from apps.payouts import adjustments, method_changes, selectors, services
from apps.payouts.destinations import describe
from apps.payouts.models import (
    FailedPayout,
    FxRate,
    ManualAdjustment,
    Payout,
    PayoutHold,
    PayoutMethod,
    PayoutMethodChange,
    PayoutRun,
    PayoutRunLine,
    PendingApprovalPayout,
)
from apps.payouts.resources import FxRateResource
from apps.payouts.services import PayoutError


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=True)


class MethodForm(forms.Form):
    method = forms.ModelChoiceField(queryset=PayoutMethod.objects.none())

    def __init__(self, *args, payout: Payout, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["method"].queryset = PayoutMethod.objects.filter(
            affiliate_id=payout.affiliate_id, is_active=True, currency=payout.currency
        ).exclude(pk=payout.method_id)


# ---------------------------------------------------------------------------------------------
# Methods and rates


class PayoutMethodForm(forms.ModelForm):
    class Meta:
        model = PayoutMethod
        fields = (
            "affiliate",
            "kind",
            "currency",
            "threshold",
            "details",
            "beneficiary_name",
            "beneficiary_address",
            "wallet_address",
            "is_default",
            "is_active",
        )

    def _get_validation_exclusions(self):
        # A new default replaces the old one when its change is approved (in one transaction), so
        # "one default per affiliate" is not this form's to refuse; the field itself is still
        # validated by its form field.
        return super()._get_validation_exclusions() | {"affiliate"}

    def clean(self):
        data = super().clean()
        if data.get("kind") == PayoutMethod.Kind.USDT:
            missing = [
                f
                for f in ("beneficiary_name", "beneficiary_address", "wallet_address")
                if not data.get(f)
            ]
            for name in missing:
                self.add_error(name, "Required for USDT payouts (travel rule).")
        return data


@admin.register(PayoutMethod)
class PayoutMethodAdmin(admin.ModelAdmin):
    """Payout methods are never written here directly: adding or editing one, deactivating it or
    making it the default records a destination change that a second Finance user approves
    ("Payout destination changes")."""

    form = PayoutMethodForm
    list_display = (
        "affiliate",
        "kind",
        "currency",
        "destination_masked",
        "threshold_display",
        "is_default",
        "is_active",
        "created_at",
    )
    list_filter = ("kind", "currency", "is_active")
    search_fields = ("affiliate__name", "affiliate__email", "wallet_address")
    list_select_related = ("affiliate",)
    autocomplete_fields = ("affiliate",)
    actions = ("request_default", "request_deactivation")

    @admin.display(description="Threshold")
    def threshold_display(self, obj):
        return format_money(obj.effective_threshold, obj.currency) + (
            "" if obj.threshold is not None else " (default)"
        )

    @admin.display(description="Destination")
    def destination_masked(self, obj):
        return describe(obj.destination())

    def get_readonly_fields(self, request, obj=None):
        return ("affiliate", "kind", "currency", "is_default", "is_active") if obj else ()

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        values = {name: data.get(name) for name in method_changes.VALUE_FIELDS if name in data}
        try:
            if change:
                request._destination_change = method_changes.payout_method_change_request(
                    affiliate=obj.affiliate,
                    action=PayoutMethodChange.Action.UPDATE,
                    method=obj,
                    values=values,
                    acting_user=request.user,
                )
            else:
                request._destination_change = method_changes.payout_method_change_request(
                    affiliate=data["affiliate"],
                    action=PayoutMethodChange.Action.CREATE,
                    values=values,
                    acting_user=request.user,
                )
        except PayoutError as exc:
            request._destination_change_error = str(exc)

    def save_related(self, request, form, formsets, change):
        pass

    def log_addition(self, request, obj, message):
        pass  # nothing was added: the audit log holds the request

    def log_change(self, request, obj, message):
        pass

    def _after_request(self, request):
        error = getattr(request, "_destination_change_error", None)
        if error:
            self.message_user(request, f"Destination change refused: {error}", messages.ERROR)
            return HttpResponseRedirect(reverse("admin:payouts_payoutmethod_changelist"))
        change = request._destination_change
        self.message_user(
            request,
            f"Destination change #{change.pk} recorded ({change.get_action_display().lower()}). Nothing changes "
            "until another Finance user approves it.",
            messages.WARNING,
        )
        return HttpResponseRedirect(
            reverse("admin:payouts_payoutmethodchange_change", args=[change.pk])
        )

    def response_add(self, request, obj, post_url_continue=None):
        return self._after_request(request)

    def response_change(self, request, obj):
        return self._after_request(request)

    def _request_each(self, request, queryset, action):
        for method in queryset.select_related("affiliate").order_by("pk"):
            try:
                change = method_changes.payout_method_change_request(
                    affiliate=method.affiliate,
                    action=action,
                    method=method,
                    acting_user=request.user,
                )
            except PayoutError as exc:
                self.message_user(request, f"{method}: {exc}", messages.ERROR)
            else:
                self.message_user(
                    request,
                    f"Destination change #{change.pk} recorded for {method}; another Finance "
                    "user must approve it.",
                    messages.WARNING,
                )

    @admin.action(
        description="Request: make the selected methods the default", permissions=["change"]
    )
    def request_default(self, request, queryset):
        self._request_each(request, queryset, PayoutMethodChange.Action.SET_DEFAULT)

    @admin.action(description="Request: deactivate the selected methods", permissions=["change"])
    def request_deactivation(self, request, queryset):
        self._request_each(request, queryset, PayoutMethodChange.Action.DEACTIVATE)

    def has_delete_permission(self, request, obj=None):
        return False  # deactivate instead (a destination change), so payouts keep their method


def _shown(value) -> str:
    if value is None or value == "":
        return "—"
    return json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else str(value)


def _values_table(change: PayoutMethodChange) -> str:
    before, after = change.before or {}, change.after or {}
    keys = [k for k in method_changes.VALUE_FIELDS if k in before or k in after]
    return render_to_string(
        "payouts/admin/destination_change_values.html",
        {
            "rows": [
                {
                    "field": k.replace("_", " "),
                    "before": _shown(before.get(k)) if change.before is not None else "—",
                    "after": _shown(after.get(k, before.get(k))),
                    "changed": k in after and before.get(k) != after.get(k),
                }
                for k in keys
            ]
        },
    )


@admin.register(PayoutMethodChange)
class PayoutMethodChangeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    # Read-only: requested from "Payout methods"; decided through the approve / reject actions only.
    """Destination changes: requested by one Finance user, approved or rejected by another."""

    list_display = (
        "id",
        "requested_at",
        "affiliate",
        "action",
        "summary",
        "status",
        "requested_by",
        "decided_by",
        "decided_at",
    )
    list_filter = ("status", "action")
    search_fields = ("affiliate__name", "=affiliate__id")
    list_select_related = ("affiliate", "requested_by", "decided_by")
    actions = ("approve_changes", "reject_changes")
    fields = (
        "affiliate",
        "action",
        "method",
        "status",
        "values",
        "reason",
        "requested_by",
        "requested_at",
        "decided_by",
        "decided_at",
        "decision_reason",
    )
    readonly_fields = fields

    @admin.display(description="Change (masked)")
    def summary(self, obj):
        changed = {k: v for k, v in (obj.after or {}).items() if (obj.before or {}).get(k) != v}
        return (
            describe({**(obj.before or {}), **changed})
            if obj.action in ("create", "update")
            else ", ".join(f"{k}: {v}" for k, v in changed.items())
        )

    @admin.display(description="Before and after")
    def values(self, obj):
        return _values_table(obj)

    def has_approve_permission(self, request):
        return request.user.has_perm(method_changes.APPROVE_PERMISSION)

    @admin.action(description="Approve selected destination changes", permissions=["approve"])
    @second_factor.approval_action
    def approve_changes(self, request, queryset):
        pending = (
            queryset.filter(status=PayoutMethodChange.Status.PENDING)
            .select_related("affiliate", "requested_by")
            .order_by("pk")
        )
        if request.POST.get("apply"):
            for change in pending:
                try:
                    method_changes.payout_method_change_approve(
                        change=change, acting_user=request.user
                    )
                except PayoutError as exc:
                    self.message_user(
                        request, f"Destination change #{change.pk} refused: {exc}", messages.ERROR
                    )
                else:
                    self.message_user(
                        request,
                        f"Destination change #{change.pk} approved and applied.",
                        messages.SUCCESS,
                    )
            return None
        return TemplateResponse(
            request,
            "payouts/admin/destination_change_confirm.html",
            {
                **self.admin_site.each_context(request),
                "title": "Approve payout destination changes",
                "changes": [(change, _values_table(change)) for change in pending],
                "action": "approve_changes",
                "opts": self.model._meta,
            },
        )

    @admin.action(description="Reject selected destination changes", permissions=["approve"])
    def reject_changes(self, request, queryset):
        form = ReasonForm(request.POST if request.POST.get("apply") else None)
        pending = queryset.filter(status=PayoutMethodChange.Status.PENDING).order_by("pk")
        if request.POST.get("apply") and form.is_valid():
            for change in pending:
                try:
                    method_changes.payout_method_change_reject(
                        change=change, acting_user=request.user, reason=form.cleaned_data["reason"]
                    )
                except PayoutError as exc:
                    self.message_user(
                        request, f"Destination change #{change.pk}: {exc}", messages.ERROR
                    )
                else:
                    self.message_user(
                        request, f"Destination change #{change.pk} rejected.", messages.SUCCESS
                    )
            return None
        return TemplateResponse(
            request,
            "core/admin/reason_form.html",
            {
                **self.admin_site.each_context(request),
                "title": "Reject destination changes",
                "form": form,
                "queryset": pending,
                "action": "reject_changes",
                "intro": "Nothing is applied to the payout methods.",
                "submit_label": "Reject",
                "opts": self.model._meta,
            },
        )


@admin.register(FxRate)
class FxRateAdmin(AuditedAdminMixin, ImportExportModelAdmin):
    resource_classes = [FxRateResource]
    list_display = ("base", "quote", "rate", "source", "as_of", "created_at")
    list_filter = ("base", "quote", "source")
    date_hierarchy = "as_of"

    def get_readonly_fields(self, request, obj=None):
        # A published rate is never edited: publish a newer one instead.
        return ("base", "quote", "rate", "source", "as_of") if obj else ()

    def has_delete_permission(self, request, obj=None):
        return False


# ---------------------------------------------------------------------------------------------
# Payout runs


class PayoutRunLineInline(admin.TabularInline):
    model = PayoutRunLine
    fields = (
        "affiliate",
        "source_amount",
        "source_currency",
        "converted_amount",
        "method_currency",
        "threshold",
        "outcome",
        "payout",
        "note",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(PayoutRun)
class PayoutRunAdmin(admin.ModelAdmin):
    list_display = ("__str__", "created_by", "payout_count", "carried_forward_count", "totals")
    readonly_fields = (
        "created_at",
        "created_by",
        "source",
        "payout_count",
        "carried_forward_count",
        "totals",
    )
    inlines = (PayoutRunLineInline,)

    def add_view(self, request, form_url="", extra_context=None):
        """ "Add" runs payouts: a confirmation showing the balances, then the run."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            run = services.payout_run_create(acting_user=request.user)
            self.message_user(
                request,
                f"Payout run #{run.pk}: {run.payout_count} draft payout(s), {run.carried_forward_count} balance(s) "
                "carried forward.",
                messages.SUCCESS,
            )
            return HttpResponseRedirect(reverse("admin:payouts_payoutrun_change", args=[run.pk]))
        balances = sorted(services.affiliate_balances().items())
        return TemplateResponse(
            request,
            "payouts/admin/run_confirm.html",
            {
                **self.admin_site.each_context(request),
                "title": "Run payouts",
                "balances": balances,
                "opts": self.model._meta,
            },
        )

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# ---------------------------------------------------------------------------------------------
# Payouts


class PayoutAdmin(admin.ModelAdmin):
    """All payouts. The change page is read-only, with buttons for the allowed transitions and
    the full history (audit trail and gateway request attempts)."""

    list_display = (
        "reference",
        "affiliate",
        "amount_display",
        "source_display",
        "method_kind",
        "status",
        "prepared_by",
        "approved_by",
        "created_at",
    )
    list_filter = ("status", "currency", "method__kind", "fx_lock_mode")
    search_fields = ("reference", "gateway_reference", "affiliate__name", "affiliate__email")
    list_select_related = ("affiliate", "method", "prepared_by", "approved_by")
    show_full_result_count = False
    date_hierarchy = "created_at"
    actions = ("submit_for_approval", "approve_payouts", "cancel_payouts")
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "reference",
                    "status",
                    "affiliate",
                    "method",
                    "destination_masked",
                    "transitions",
                )
            },
        ),
        ("Amounts", {"fields": ("amount_display", "source_display", "statements_paid")}),
        (
            "Exchange rate",
            {
                "fields": (
                    "fx_rate_display",
                    "fx_source",
                    "fx_as_of",
                    "fx_lock_mode",
                    "fx_locked_at",
                )
            },
        ),
        (
            "Gateway",
            {
                "fields": (
                    "gateway_reference",
                    "submission_count",
                    "gateway_requests",
                    "failure_code",
                    "failure_reason",
                )
            },
        ),
        (
            "People and times",
            {
                "fields": (
                    "run",
                    "prepared_by",
                    "approved_by",
                    "created_at",
                    "submitted_for_approval_at",
                    "approved_at",
                    "submitted_at",
                    "completed_at",
                    "failed_at",
                    "cancelled_at",
                )
            },
        ),
        ("History", {"fields": ("history",)}),
    )
    readonly_fields = [f for fs in fieldsets for f in fs[1]["fields"]]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    amount_display = money_column("amount", description="Amount")
    source_display = money_column("source_amount", "source_currency", description="Earned")

    @admin.display(description="FX rate", ordering="fx_rate")
    def fx_rate_display(self, obj):
        return format_rate(obj.fx_rate) if obj.fx_rate is not None else "—"

    @admin.display(description="Method", ordering="method__kind")
    def method_kind(self, obj):
        return obj.method.get_kind_display()

    @admin.display(description="Pays to (masked; in full on the approval page)")
    def destination_masked(self, obj):
        if obj.destination is None:
            return f"Not recorded yet (taken when submitted for approval): now {describe(obj.method.destination())}"
        changed = (
            f" — set by {obj.destination_changed_by} (method change)"
            if obj.destination_changed_by_id
            else ""
        )
        return describe(obj.destination) + changed

    @admin.display(description="Statements it pays")
    def statements_paid(self, obj):
        allocations = obj.allocations.select_related("statement").order_by("statement__period")
        links = (
            (
                link(
                    "commissions.statement",
                    a.statement_id,
                    f"{a.statement.period:%Y-%m} {format_money(a.amount, a.currency)}",
                ),
                " (released)" if a.released_at else "",
            )
            for a in allocations
        )
        return format_html_join(", ", "{}{}", links) or "—"

    @admin.display(description="Gateway requests")
    def gateway_requests(self, obj):
        url = admin_url(
            "integrations.outbounddelivery", topic="payout.request", subject=obj.reference
        )
        return format_html('<a href="{}">Requests sent for {}</a>', url, obj.reference)

    @admin.display(description="History")
    def history(self, obj):
        return render_to_string(
            "payouts/admin/history.html", {"history": selectors.payout_history(obj)}
        )

    @admin.display(description="Actions")
    def transitions(self, obj):
        buttons = []
        user = getattr(self, "_request_user", None)
        for name, label, guard, args in (
            ("submit", "Submit for approval", services.can_submit_for_approval, (obj,)),
            ("approve", "Approve", services.can_approve, (obj, user)),
            ("retry", "Retry (same reference)", services.can_retry, (obj, user)),
            ("change-method", "Change method", services.can_change_method_status, (obj,)),
            ("cancel", "Cancel", services.can_cancel, (obj,)),
        ):
            if services.allowed(guard, *args):
                url = reverse(f"admin:payouts_payout_{name.replace('-', '_')}", args=[obj.pk])
                buttons.append(
                    format_html(
                        '<a class="button" href="{}" style="margin-right:.5em">{}</a>', url, label
                    )
                )
        return format_html("".join(["{}"] * len(buttons)), *buttons) if buttons else "—"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        self._request_user = request.user
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        info = "payouts_payout"
        return [
            path(
                "<int:pk>/submit/",
                self.admin_site.admin_view(self.submit_view),
                name=f"{info}_submit",
            ),
            path(
                "<int:pk>/approve/",
                self.admin_site.admin_view(self.approve_view),
                name=f"{info}_approve",
            ),
            path(
                "<int:pk>/retry/", self.admin_site.admin_view(self.retry_view), name=f"{info}_retry"
            ),
            path(
                "<int:pk>/cancel/",
                self.admin_site.admin_view(self.cancel_view),
                name=f"{info}_cancel",
            ),
            path(
                "<int:pk>/change-method/",
                self.admin_site.admin_view(self.change_method_view),
                name=f"{info}_change_method",
            ),
            *super().get_urls(),
        ]

    # -- single-payout views (POST performs, GET confirms) --

    def _payout(self, request, pk, *, needs: str) -> Payout:
        """The payout, for a user who may do this to it: "change" (submit, cancel, change the
        method) or "approve" (approve, retry); viewing is never enough to act."""
        allowed = (
            self.has_approve_permission(request)
            if needs == "approve"
            else self.has_change_permission(request)
        )
        if not allowed:
            what = "approving or retrying payouts" if needs == "approve" else "changing payouts"
            raise PermissionDenied(
                f"{what.capitalize()} needs Finance's permission for it; you may only view them."
            )
        return get_object_or_404(Payout, pk=pk)

    def _back(self, payout):
        return HttpResponseRedirect(reverse("admin:payouts_payout_change", args=[payout.pk]))

    def _run(self, request, payout, label, call):
        try:
            call()
        except PayoutError as exc:
            self.message_user(request, f"{label} refused: {exc}", messages.ERROR)
        else:
            self.message_user(
                request, f"{label}: payout {payout.reference} done.", messages.SUCCESS
            )
        return self._back(payout)

    def _confirm(self, request, payout, title, intro):
        return TemplateResponse(
            request,
            "core/admin/reason_form.html",
            {
                **self.admin_site.each_context(request),
                "title": title,
                "form": None,
                "queryset": [payout],
                "intro": intro,
                "submit_label": title,
                "opts": Payout._meta,
            },
        )

    def submit_view(self, request, pk):
        payout = self._payout(request, pk, needs="change")
        if request.method != "POST":
            return self._confirm(
                request, payout, "Submit for approval", "Another Finance user will approve it."
            )
        return self._run(
            request,
            payout,
            "Submit for approval",
            lambda: services.payout_submit_for_approval(payout=payout, acting_user=request.user),
        )

    def approve_view(self, request, pk):
        payout = self._payout(request, pk, needs="approve")
        if second_factor.refused_without_second_factor(request):
            return self._back(payout)
        if request.method != "POST":
            return self._approve_confirm(request, Payout.objects.filter(pk=payout.pk), action="")
        return self._run(
            request,
            payout,
            "Approval",
            lambda: services.payout_approve(payout=payout, acting_user=request.user),
        )

    def retry_view(self, request, pk):
        payout = self._payout(request, pk, needs="approve")
        if second_factor.refused_without_second_factor(request):
            return self._back(payout)
        if request.method != "POST":
            return self._confirm(
                request,
                payout,
                "Retry payout",
                f"The gateway failed it: {payout.failure_reason}. It is sent again with the same "
                f"reference {payout.reference}.",
            )
        return self._run(
            request,
            payout,
            "Retry",
            lambda: services.payout_retry(payout=payout, acting_user=request.user),
        )

    def cancel_view(self, request, pk):
        payout = self._payout(request, pk, needs="change")
        form = ReasonForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            return self._run(
                request,
                payout,
                "Cancellation",
                lambda: services.payout_cancel(
                    payout=payout, acting_user=request.user, reason=form.cleaned_data["reason"]
                ),
            )
        return TemplateResponse(
            request,
            "core/admin/reason_form.html",
            {
                **self.admin_site.each_context(request),
                "title": "Cancel payout",
                "form": form,
                "queryset": [payout],
                "intro": "The amount returns to the affiliate's balance for the next payout run.",
                "submit_label": "Cancel payout",
                "opts": Payout._meta,
            },
        )

    def change_method_view(self, request, pk):
        payout = self._payout(request, pk, needs="change")
        form = MethodForm(request.POST or None, payout=payout)
        if request.method == "POST" and form.is_valid():
            return self._run(
                request,
                payout,
                "Method change",
                lambda: services.payout_change_method(
                    payout=payout, method=form.cleaned_data["method"], acting_user=request.user
                ),
            )
        return TemplateResponse(
            request,
            "payouts/admin/change_method.html",
            {
                **self.admin_site.each_context(request),
                "title": "Change payout method",
                "form": form,
                "payout": payout,
                "opts": Payout._meta,
            },
        )

    # -- bulk actions --

    @admin.action(description="Submit selected payouts for approval", permissions=["change"])
    def submit_for_approval(self, request, queryset):
        done, refused = 0, []
        for payout in queryset.order_by("pk"):
            try:
                services.payout_submit_for_approval(payout=payout, acting_user=request.user)
                done += 1
            except PayoutError as exc:
                refused.append(str(exc))
        self._report(request, "submitted for approval", done, refused)

    @admin.action(
        description="Approve selected payouts (sends them to the gateway)", permissions=["approve"]
    )
    @second_factor.approval_action
    def approve_payouts(self, request, queryset):
        if request.POST.get("apply"):
            try:
                result = services.payouts_approve(payouts=list(queryset), acting_user=request.user)
            except PayoutError as exc:
                self.message_user(request, f"Approval refused: {exc}", messages.ERROR)
                return None
            self._report(
                request,
                "approved and sent to the gateway",
                len(result.done),
                [r for _, r in result.refused],
            )
            return None
        return self._approve_confirm(request, queryset, action="approve_payouts")

    def _approve_confirm(self, request, queryset, *, action):
        return TemplateResponse(
            request,
            "payouts/admin/approve_confirm.html",
            {
                **self.admin_site.each_context(request),
                "title": "Approve payouts",
                "preview": selectors.approval_preview(queryset),
                "action": action,
                "opts": Payout._meta,
            },
        )

    @admin.action(description="Cancel selected payouts", permissions=["change"])
    def cancel_payouts(self, request, queryset):
        form = ReasonForm(request.POST if request.POST.get("apply") else None)
        if request.POST.get("apply") and form.is_valid():
            done, refused = 0, []
            for payout in queryset.order_by("pk"):
                try:
                    services.payout_cancel(
                        payout=payout, acting_user=request.user, reason=form.cleaned_data["reason"]
                    )
                    done += 1
                except PayoutError as exc:
                    refused.append(str(exc))
            self._report(request, "cancelled (their amounts return to the balances)", done, refused)
            return None
        return TemplateResponse(
            request,
            "core/admin/reason_form.html",
            {
                **self.admin_site.each_context(request),
                "title": "Cancel payouts",
                "form": form,
                "queryset": queryset,
                "action": "cancel_payouts",
                "intro": "The amounts return to the affiliates' balances.",
                "submit_label": "Cancel payouts",
                "opts": Payout._meta,
            },
        )

    @admin.action(
        description="Retry selected failed payouts (same references)", permissions=["approve"]
    )
    @second_factor.approval_action
    def retry_payouts(self, request, queryset):
        done, refused = 0, []
        for payout in queryset.order_by("pk"):
            try:
                services.payout_retry(payout=payout, acting_user=request.user)
                done += 1
            except PayoutError as exc:
                refused.append(str(exc))
        self._report(request, "sent to the gateway again", done, refused)

    def has_approve_permission(self, request):
        return request.user.has_perm(services.APPROVE_PERMISSION)

    def _report(self, request, what, done, refused):
        if done:
            self.message_user(request, f"{done} payout(s) {what}.", messages.SUCCESS)
        for reason in refused:
            self.message_user(request, reason, messages.ERROR)


admin.site.register(Payout, PayoutAdmin)


class _QueueAdmin(PayoutAdmin):
    change_list_template = "payouts/admin/queue_change_list.html"
    queue_status: str = ""
    queue_title: str = ""

    def get_queryset(self, request):
        return super().get_queryset(request).filter(status=self.queue_status)

    def changelist_view(self, request, extra_context=None):
        extra = {
            "queue_totals": selectors.totals_by_currency(self.get_queryset(request)),
            "queue_title": self.queue_title,
        }
        return super().changelist_view(request, {**(extra_context or {}), **extra})

    def get_urls(self):
        return admin.ModelAdmin.get_urls(self)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return HttpResponseRedirect(reverse("admin:payouts_payout_change", args=[object_id]))


@admin.register(PendingApprovalPayout)
class PendingApprovalPayoutAdmin(_QueueAdmin):
    queue_status, queue_title = Payout.Status.PENDING_APPROVAL, "Pending approval"
    actions = ("approve_payouts", "cancel_payouts")
    list_display = (
        "reference",
        "affiliate",
        "amount_display",
        "source_display",
        "fx_rate_display",
        "fx_source",
        "method_kind",
        "prepared_by",
        "submitted_for_approval_at",
    )


@admin.register(FailedPayout)
class FailedPayoutAdmin(_QueueAdmin):
    queue_status, queue_title = Payout.Status.FAILED, "Failed payouts"
    actions = ("retry_payouts", "cancel_payouts")
    list_display = (
        "reference",
        "affiliate",
        "amount_display",
        "method_kind",
        "failure_code",
        "failure_reason",
        "failed_at",
        "submission_count",
    )
    list_filter = ("failure_code", "currency", "method__kind")


@admin.register(PayoutHold)
class PayoutHoldAdmin(admin.ModelAdmin):
    """Held balances: suspended or banned affiliates' money, kept out of payout runs until Finance
    releases it (once the affiliate is active again)."""

    list_display = (
        "affiliate",
        "affiliate_status",
        "held_balance",
        "reason",
        "created_at",
        "released_at",
        "released_by",
        "release_reason",
    )
    list_filter = (("released_at", admin.EmptyFieldListFilter),)
    search_fields = ("affiliate__name", "=affiliate__id")
    list_select_related = ("affiliate", "released_by")
    readonly_fields = (
        "affiliate",
        "reason",
        "created_at",
        "created_by",
        "released_at",
        "released_by",
        "release_reason",
    )
    actions = ("release_holds",)

    def changelist_view(self, request, extra_context=None):
        self._balances = None
        return super().changelist_view(request, extra_context)

    @admin.display(description="Affiliate status")
    def affiliate_status(self, obj):
        return obj.affiliate.get_status_display()

    @admin.display(description="Held balance")
    def held_balance(self, obj):
        if obj.released_at is not None:
            return "—"
        if getattr(self, "_balances", None) is None:  # one query for the page's live holds
            ids = PayoutHold.objects.filter(released_at__isnull=True).values_list(
                "affiliate_id", flat=True
            )
            self._balances = services.affiliate_balances(affiliate_ids=list(ids))
        amounts = [
            f"{total:,.2f} {currency}"
            for (affiliate_id, currency), total in sorted(self._balances.items())
            if affiliate_id == obj.affiliate_id
        ]
        return ", ".join(amounts) or "0"

    def has_add_permission(self, request):
        return False  # payout runs place holds

    def has_delete_permission(self, request, obj=None):
        return False

    def has_release_permission(self, request):
        return request.user.has_perm("payouts.release_payouthold")

    @admin.action(
        description="Release selected held balances (the next payout run pays them)",
        permissions=["release"],
    )
    def release_holds(self, request, queryset):
        form = ReasonForm(request.POST if request.POST.get("apply") else None)
        live = queryset.filter(released_at__isnull=True).select_related("affiliate").order_by("pk")
        if request.POST.get("apply") and form.is_valid():
            for hold in live:
                try:
                    services.payout_hold_release(
                        hold=hold, acting_user=request.user, reason=form.cleaned_data["reason"]
                    )
                except PayoutError as exc:
                    self.message_user(request, f"Release refused: {exc}", messages.ERROR)
                else:
                    self.message_user(
                        request, f"Released the held balance of {hold.affiliate}.", messages.SUCCESS
                    )
            return None
        return TemplateResponse(
            request,
            "core/admin/reason_form.html",
            {
                **self.admin_site.each_context(request),
                "title": "Release held balances",
                "form": form,
                "queryset": live,
                "action": "release_holds",
                "submit_label": "Release",
                "intro": "The next payout run pays these balances.",
                "opts": self.model._meta,
            },
        )


class ManualAdjustmentForm(forms.ModelForm):
    month = forms.CharField(
        help_text="YYYY-MM: the period it belongs to (a closed one books into the next open one)."
    )

    class Meta:
        model = ManualAdjustment
        fields = ("affiliate", "amount", "currency", "reason_code", "note")

    def clean_month(self):
        from apps.commissions.periods import parse_period

        try:
            return parse_period(self.cleaned_data["month"])
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc


@admin.register(ManualAdjustment)
class ManualAdjustmentAdmin(admin.ModelAdmin):
    """Manual credits and debits: booked by one Finance user, approved by another before they reach
    the ledger."""

    list_display = (
        "id",
        "requested_at",
        "affiliate",
        "amount_display",
        "reason_code",
        "period",
        "status",
        "requested_by",
        "decided_by",
        "note",
    )
    list_filter = ("status", "reason_code", "currency")
    search_fields = ("affiliate__name", "=affiliate__id", "note")
    list_select_related = ("affiliate", "requested_by", "decided_by")
    autocomplete_fields = ("affiliate",)
    actions = ("approve_adjustments", "reject_adjustments")
    readonly_fields = (
        "affiliate",
        "amount",
        "currency",
        "reason_code",
        "note",
        "period",
        "status",
        "requested_by",
        "requested_at",
        "decided_by",
        "decided_at",
        "decision_reason",
        "entry",
    )

    @admin.display(description="Amount", ordering="amount")
    def amount_display(self, obj):
        return f"{obj.amount:+,.2f} {obj.currency}"

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = ManualAdjustmentForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        return (
            ("affiliate", "amount", "currency", "reason_code", "note", "month")
            if obj is None
            else self.readonly_fields
        )

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        try:
            created = adjustments.manual_adjustment_request(
                affiliate=data["affiliate"],
                amount=data["amount"],
                currency=data["currency"],
                reason_code=data["reason_code"],
                note=data["note"],
                period=data["month"],
                acting_user=request.user,
            )
        except PayoutError as exc:
            request._adjustment_error = str(exc)
            return
        obj.pk = created.pk

    def log_addition(self, request, obj, message):
        pass  # the audit log holds the request

    def response_add(self, request, obj, post_url_continue=None):
        error = getattr(request, "_adjustment_error", None)
        if error:
            self.message_user(request, f"Adjustment refused: {error}", messages.ERROR)
        else:
            self.message_user(
                request,
                f"Adjustment #{obj.pk} recorded; another Finance user must approve it before "
                "it reaches the ledger.",
                messages.WARNING,
            )
        return HttpResponseRedirect(reverse("admin:payouts_manualadjustment_changelist"))

    def has_approve_permission(self, request):
        return request.user.has_perm(adjustments.APPROVE_PERMISSION)

    def _decide(self, request, queryset, decide, verb, **kwargs):
        for adjustment in queryset.filter(status=ManualAdjustment.Status.PENDING).order_by("pk"):
            try:
                decide(adjustment=adjustment, acting_user=request.user, **kwargs)
            except PayoutError as exc:
                self.message_user(
                    request, f"Adjustment #{adjustment.pk} refused: {exc}", messages.ERROR
                )
            else:
                self.message_user(request, f"Adjustment #{adjustment.pk} {verb}.", messages.SUCCESS)

    @admin.action(
        description="Approve selected adjustments (book them on the ledger)",
        permissions=["approve"],
    )
    @second_factor.approval_action
    def approve_adjustments(self, request, queryset):
        self._decide(
            request, queryset, adjustments.manual_adjustment_approve, "approved and booked"
        )

    @admin.action(description="Reject selected adjustments", permissions=["approve"])
    def reject_adjustments(self, request, queryset):
        form = ReasonForm(request.POST if request.POST.get("apply") else None)
        if request.POST.get("apply") and form.is_valid():
            self._decide(
                request,
                queryset,
                adjustments.manual_adjustment_reject,
                "rejected",
                reason=form.cleaned_data["reason"],
            )
            return None
        return TemplateResponse(
            request,
            "core/admin/reason_form.html",
            {
                **self.admin_site.each_context(request),
                "title": "Reject adjustments",
                "form": form,
                "queryset": queryset.filter(status=ManualAdjustment.Status.PENDING),
                "action": "reject_adjustments",
                "submit_label": "Reject",
                "intro": "Nothing is booked.",
                "opts": self.model._meta,
            },
        )


from apps.payouts import story_panels  # noqa: E402,F401  (the affiliate page's payouts)
