"""Payout holds: balances kept back from payout runs until released."""

from __future__ import annotations

from django.contrib import admin, messages
from django.template.response import TemplateResponse

from apps.payouts import services
from apps.payouts.admin.forms import ReasonForm
from apps.payouts.models import (
    PayoutHold,
)
from apps.payouts.services import PayoutError


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
