"""Payout runs and their lines."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from apps.payouts import services
from apps.payouts.models import (
    PayoutRun,
    PayoutRunLine,
)

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
                f"Payout run #{run.pk}: {run.payout_count} draft payout(s), "
                f"{run.carried_forward_count} balance(s) "
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
