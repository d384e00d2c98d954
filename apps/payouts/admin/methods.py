"""Payout methods, their destination changes (decided by a second person) and FX rates."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse
from import_export.admin import ImportExportModelAdmin

from apps.accounts import second_factor
from apps.core.admin_audit import AuditedAdminMixin
from apps.core.admin_mixins import ReadOnlyAdminMixin
from apps.core.display import format_money
from apps.payouts import method_changes
from apps.payouts.admin.forms import ReasonForm
from apps.payouts.destinations import describe
from apps.payouts.models import (
    FxRate,
    PayoutMethod,
    PayoutMethodChange,
)
from apps.payouts.resources import FxRateResource
from apps.payouts.services import PayoutError

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
            f"Destination change #{change.pk} recorded ({change.get_action_display().lower()}). "
            "Nothing changes "
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
