"""Clawback review: a case per chargeback, decided with a reason."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Sum
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from apps.commissions import periods, services
from apps.commissions.models import (
    ClawbackCase,
    ClawbackCaseEvent,
    ClawbackProposal,
)
from apps.core.display import format_money
from apps.core.story import link
from apps.players.facts import Chargeback

# --- clawback review --------------------------------------------------------------------------


class ReasonForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), help_text="Recorded with the decision."
    )


class ClawbackProposalInline(admin.TabularInline):
    model = ClawbackProposal
    extra = 0
    can_delete = False
    fields = ("kind", "affiliate", "amount_money", "original", "explanation", "booked_entry")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="amount")
    def amount_money(self, obj):
        return format_money(obj.amount, obj.currency)


class ClawbackCaseEventInline(admin.TabularInline):
    """The case's history: the report that opened it and every repeat of the same chargeback."""

    model = ClawbackCaseEvent
    extra = 0
    can_delete = False
    verbose_name_plural = "history (reports of this chargeback)"
    fields = (
        "kind",
        "system",
        "source_event",
        "amount_money",
        "occurred_at",
        "recorded_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="event")
    def source_event(self, obj):
        return link("integrations.inboundevent", obj.source_event_id)

    @admin.display(description="amount")
    def amount_money(self, obj):
        return format_money(obj.amount, obj.currency)


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
        "chargeback",
        "chargeback_event",
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
            "Approving books the proposed negative lines below in the current period ({period}), "
            "each "
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

    @admin.display(description="chargeback id")
    def chargeback(self, obj):
        """The chargeback fact the case is about (the player's recorded chargeback)."""
        fact = (
            Chargeback.objects.filter(player_id=obj.player_id, chargeback_id=obj.chargeback_id)
            .values_list("pk", flat=True)
            .first()
        )
        return link("players.chargeback", fact, obj.chargeback_id) if fact else obj.chargeback_id

    @admin.display(description="chargeback event")
    def chargeback_event(self, obj):
        return link("integrations.inboundevent", obj.chargeback_event_id)

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
