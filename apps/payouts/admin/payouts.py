"""All payouts: the read-only change page with a button per allowed transition and the full
history (audit trail and gateway request attempts)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from apps.accounts import second_factor
from apps.core.display import format_money, format_rate, money_column
from apps.core.story import StoryAdminMixin, admin_url, link
from apps.payouts import selectors, services
from apps.payouts.admin.forms import MethodForm, ReasonForm
from apps.payouts.destinations import describe
from apps.payouts.models import (
    Payout,
)
from apps.payouts.services import PayoutError

# ---------------------------------------------------------------------------------------------
# Payouts


class PayoutAdmin(StoryAdminMixin, admin.ModelAdmin):
    """All payouts. The change page is read-only, with buttons for the allowed transitions and
    the full history (audit trail and gateway request attempts); apps above payouts add panels
    (the risk queue: the affiliate's open cases and held amounts)."""

    story_subject = "payout"

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
            return (
                "Not recorded yet (taken when submitted for approval): now "
                f"{describe(obj.method.destination())}"
            )
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
