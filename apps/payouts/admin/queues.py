"""The approval queue and the failed-payout queue: payouts filtered to one state."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpResponseRedirect
from django.urls import reverse

from apps.payouts import selectors
from apps.payouts.admin.payouts import PayoutAdmin
from apps.payouts.models import (
    FailedPayout,
    Payout,
    PendingApprovalPayout,
)


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
