"""Manual adjustments: proposed by one person, approved and booked by another."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from apps.accounts import second_factor
from apps.payouts import adjustments
from apps.payouts.admin.forms import ReasonForm
from apps.payouts.models import (
    ManualAdjustment,
)
from apps.payouts.services import PayoutError


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
