"""Finance admin: payout methods, FX rates, payout runs, all payouts, the approval queue (bulk
approve with a confirmation page), the failed-payout queue, and each payout's full history.

Every button and action calls the same service the rest of the system uses; refused transitions
come back as clear messages.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from import_export.admin import ImportExportModelAdmin

from apps.payouts import selectors, services
from apps.payouts.models import (
    FailedPayout,
    FxRate,
    Payout,
    PayoutMethod,
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
        fields = ("affiliate", "kind", "currency", "threshold", "details", "beneficiary_name",
                  "beneficiary_address", "wallet_address", "is_default", "is_active")

    def clean(self):
        data = super().clean()
        if data.get("kind") == PayoutMethod.Kind.USDT:
            missing = [f for f in ("beneficiary_name", "beneficiary_address", "wallet_address") if not data.get(f)]
            for name in missing:
                self.add_error(name, "Required for USDT payouts (travel rule).")
        return data


@admin.register(PayoutMethod)
class PayoutMethodAdmin(admin.ModelAdmin):
    form = PayoutMethodForm
    list_display = ("affiliate", "kind", "currency", "threshold_display", "is_default", "is_active", "created_at")
    list_filter = ("kind", "currency", "is_active")
    search_fields = ("affiliate__name", "affiliate__email", "wallet_address")
    list_select_related = ("affiliate",)
    autocomplete_fields = ("affiliate",)

    @admin.display(description="Threshold")
    def threshold_display(self, obj):
        return f"{obj.effective_threshold} {obj.currency}" + ("" if obj.threshold is not None else " (default)")

    def get_readonly_fields(self, request, obj=None):
        return ("affiliate", "kind", "currency") if obj else ()

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        data = form.cleaned_data
        try:
            created = services.payout_method_create(
                affiliate=data["affiliate"], kind=data["kind"], currency=data["currency"], threshold=data.get("threshold"),
                details=data.get("details") or {}, beneficiary_name=data.get("beneficiary_name", ""),
                beneficiary_address=data.get("beneficiary_address", ""), wallet_address=data.get("wallet_address", ""),
                is_default=data.get("is_default", True), acting_user=request.user,
            )
        except PayoutError as exc:
            raise PermissionDenied(str(exc)) from exc
        obj.pk = created.pk

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(FxRate)
class FxRateAdmin(ImportExportModelAdmin):
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
    fields = ("affiliate", "source_amount", "source_currency", "converted_amount", "method_currency",
              "threshold", "outcome", "payout", "note")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(PayoutRun)
class PayoutRunAdmin(admin.ModelAdmin):
    list_display = ("__str__", "created_by", "payout_count", "carried_forward_count", "totals")
    readonly_fields = ("created_at", "created_by", "source", "payout_count", "carried_forward_count", "totals")
    inlines = (PayoutRunLineInline,)

    def add_view(self, request, form_url="", extra_context=None):
        """"Add" runs payouts: a confirmation showing the balances, then the run."""
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
        return TemplateResponse(request, "payouts/admin/run_confirm.html", {
            **self.admin_site.each_context(request), "title": "Run payouts", "balances": balances,
            "opts": self.model._meta,
        })

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# ---------------------------------------------------------------------------------------------
# Payouts


class PayoutAdmin(admin.ModelAdmin):
    """All payouts. The change page is read-only, with buttons for the allowed transitions and
    the full history (audit trail and gateway request attempts)."""

    list_display = ("reference", "affiliate", "amount_display", "source_display", "method_kind", "status",
                    "prepared_by", "approved_by", "created_at")
    list_filter = ("status", "currency", "method__kind", "fx_lock_mode")
    search_fields = ("reference", "gateway_reference", "affiliate__name", "affiliate__email")
    list_select_related = ("affiliate", "method", "prepared_by", "approved_by")
    show_full_result_count = False
    date_hierarchy = "created_at"
    actions = ("submit_for_approval", "approve_payouts", "cancel_payouts")
    fieldsets = (
        (None, {"fields": ("reference", "status", "affiliate", "method", "transitions")}),
        ("Amounts", {"fields": ("amount", "currency", "source_amount", "source_currency")}),
        ("Exchange rate", {"fields": ("fx_rate", "fx_source", "fx_as_of", "fx_lock_mode", "fx_locked_at")}),
        ("Gateway", {"fields": ("gateway_reference", "submission_count", "failure_code", "failure_reason")}),
        ("People and times", {"fields": ("run", "prepared_by", "approved_by", "created_at", "submitted_for_approval_at",
                                         "approved_at", "submitted_at", "completed_at", "failed_at", "cancelled_at")}),
        ("History", {"fields": ("history",)}),
    )
    readonly_fields = [f for fs in fieldsets for f in fs[1]["fields"]]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Amount", ordering="amount")
    def amount_display(self, obj):
        return f"{obj.amount:,.2f} {obj.currency}" if obj.currency != "USDT" else f"{obj.amount} {obj.currency}"

    @admin.display(description="Earned")
    def source_display(self, obj):
        return f"{obj.source_amount:,.2f} {obj.source_currency}"

    @admin.display(description="Method", ordering="method__kind")
    def method_kind(self, obj):
        return obj.method.get_kind_display()

    @admin.display(description="History")
    def history(self, obj):
        return render_to_string("payouts/admin/history.html", {"history": selectors.payout_history(obj)})

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
                buttons.append(format_html('<a class="button" href="{}" style="margin-right:.5em">{}</a>', url, label))
        return format_html("".join(["{}"] * len(buttons)), *buttons) if buttons else "—"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        self._request_user = request.user
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        info = "payouts_payout"
        return [
            path("<int:pk>/submit/", self.admin_site.admin_view(self.submit_view), name=f"{info}_submit"),
            path("<int:pk>/approve/", self.admin_site.admin_view(self.approve_view), name=f"{info}_approve"),
            path("<int:pk>/retry/", self.admin_site.admin_view(self.retry_view), name=f"{info}_retry"),
            path("<int:pk>/cancel/", self.admin_site.admin_view(self.cancel_view), name=f"{info}_cancel"),
            path("<int:pk>/change-method/", self.admin_site.admin_view(self.change_method_view),
                 name=f"{info}_change_method"),
            *super().get_urls(),
        ]

    # -- single-payout views (POST performs, GET confirms) --

    def _payout(self, request, pk) -> Payout:
        if not self.has_view_permission(request):
            raise PermissionDenied
        return get_object_or_404(Payout, pk=pk)

    def _back(self, payout):
        return HttpResponseRedirect(reverse("admin:payouts_payout_change", args=[payout.pk]))

    def _run(self, request, payout, label, call):
        try:
            call()
        except PayoutError as exc:
            self.message_user(request, f"{label} refused: {exc}", messages.ERROR)
        else:
            self.message_user(request, f"{label}: payout {payout.reference} done.", messages.SUCCESS)
        return self._back(payout)

    def _confirm(self, request, payout, title, intro):
        return TemplateResponse(request, "payouts/admin/reason_form.html", {
            **self.admin_site.each_context(request), "title": title, "form": None, "queryset": [payout],
            "intro": intro, "submit_label": title, "opts": Payout._meta,
        })

    def submit_view(self, request, pk):
        payout = self._payout(request, pk)
        if request.method != "POST":
            return self._confirm(request, payout, "Submit for approval", "Another Finance user will approve it.")
        return self._run(request, payout, "Submit for approval",
                         lambda: services.payout_submit_for_approval(payout=payout, acting_user=request.user))

    def approve_view(self, request, pk):
        payout = self._payout(request, pk)
        if request.method != "POST":
            return self._approve_confirm(request, Payout.objects.filter(pk=payout.pk), action="")
        return self._run(request, payout, "Approval",
                         lambda: services.payout_approve(payout=payout, acting_user=request.user))

    def retry_view(self, request, pk):
        payout = self._payout(request, pk)
        if request.method != "POST":
            return self._confirm(request, payout, "Retry payout",
                                 f"The gateway failed it: {payout.failure_reason}. It is sent again with the same "
                                 f"reference {payout.reference}.")
        return self._run(request, payout, "Retry", lambda: services.payout_retry(payout=payout, acting_user=request.user))

    def cancel_view(self, request, pk):
        payout = self._payout(request, pk)
        form = ReasonForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            return self._run(request, payout, "Cancellation", lambda: services.payout_cancel(
                payout=payout, acting_user=request.user, reason=form.cleaned_data["reason"]))
        return TemplateResponse(request, "payouts/admin/reason_form.html", {
            **self.admin_site.each_context(request), "title": "Cancel payout", "form": form, "queryset": [payout],
            "intro": "The amount returns to the affiliate's balance for the next payout run.",
            "submit_label": "Cancel payout", "opts": Payout._meta,
        })

    def change_method_view(self, request, pk):
        payout = self._payout(request, pk)
        form = MethodForm(request.POST or None, payout=payout)
        if request.method == "POST" and form.is_valid():
            return self._run(request, payout, "Method change", lambda: services.payout_change_method(
                payout=payout, method=form.cleaned_data["method"], acting_user=request.user))
        return TemplateResponse(request, "payouts/admin/change_method.html", {
            **self.admin_site.each_context(request), "title": "Change payout method", "form": form, "payout": payout,
            "opts": Payout._meta,
        })

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

    @admin.action(description="Approve selected payouts (sends them to the gateway)", permissions=["approve"])
    def approve_payouts(self, request, queryset):
        if request.POST.get("apply"):
            try:
                result = services.payouts_approve(payouts=list(queryset), acting_user=request.user)
            except PayoutError as exc:
                self.message_user(request, f"Approval refused: {exc}", messages.ERROR)
                return None
            self._report(request, "approved and sent to the gateway", len(result.done), [r for _, r in result.refused])
            return None
        return self._approve_confirm(request, queryset, action="approve_payouts")

    def _approve_confirm(self, request, queryset, *, action):
        return TemplateResponse(request, "payouts/admin/approve_confirm.html", {
            **self.admin_site.each_context(request), "title": "Approve payouts",
            "preview": selectors.approval_preview(queryset), "action": action, "opts": Payout._meta,
        })

    @admin.action(description="Cancel selected payouts", permissions=["change"])
    def cancel_payouts(self, request, queryset):
        form = ReasonForm(request.POST if request.POST.get("apply") else None)
        if request.POST.get("apply") and form.is_valid():
            done, refused = 0, []
            for payout in queryset.order_by("pk"):
                try:
                    services.payout_cancel(payout=payout, acting_user=request.user, reason=form.cleaned_data["reason"])
                    done += 1
                except PayoutError as exc:
                    refused.append(str(exc))
            self._report(request, "cancelled (their amounts return to the balances)", done, refused)
            return None
        return TemplateResponse(request, "payouts/admin/reason_form.html", {
            **self.admin_site.each_context(request), "title": "Cancel payouts", "form": form, "queryset": queryset,
            "action": "cancel_payouts", "intro": "The amounts return to the affiliates' balances.",
            "submit_label": "Cancel payouts", "opts": Payout._meta,
        })

    @admin.action(description="Retry selected failed payouts (same references)", permissions=["approve"])
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
        extra = {"queue_totals": selectors.totals_by_currency(self.get_queryset(request)), "queue_title": self.queue_title}
        return super().changelist_view(request, {**(extra_context or {}), **extra})

    def get_urls(self):
        return admin.ModelAdmin.get_urls(self)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return HttpResponseRedirect(reverse("admin:payouts_payout_change", args=[object_id]))


@admin.register(PendingApprovalPayout)
class PendingApprovalPayoutAdmin(_QueueAdmin):
    queue_status, queue_title = Payout.Status.PENDING_APPROVAL, "Pending approval"
    actions = ("approve_payouts", "cancel_payouts")
    list_display = ("reference", "affiliate", "amount_display", "source_display", "fx_rate", "fx_source",
                    "method_kind", "prepared_by", "submitted_for_approval_at")


@admin.register(FailedPayout)
class FailedPayoutAdmin(_QueueAdmin):
    queue_status, queue_title = Payout.Status.FAILED, "Failed payouts"
    actions = ("retry_payouts", "cancel_payouts")
    list_display = ("reference", "affiliate", "amount_display", "method_kind", "failure_code", "failure_reason",
                    "failed_at", "submission_count")
    list_filter = ("failure_code", "currency", "method__kind")
