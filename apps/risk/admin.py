"""The risk queue in the admin: cases to decide (Compliance and Finance), the rules and their
parameters with each rule's precision, the signals, and the affiliates' own identity values."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Case, Value, When
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from apps.core.admin_mixins import ReadOnlyAdminMixin
from apps.core.audit import audit_change, stored_values
from apps.core.story import link
from apps.risk import services
from apps.risk.models import AffiliateIdentityValue, RiskCase, RiskDecision, RiskRule, RiskSignal
from apps.risk.rules import rule_modules
from apps.risk.selectors import (
    held_now_of,
    rule_precision,
    with_held_now,
    with_rule_statistics,
)
from apps.risk.story_panels import held_text


class RiskRuleForm(forms.ModelForm):
    class Meta:
        model = RiskRule
        fields = ("enabled", "score", "params")

    def clean_params(self):
        params = self.cleaned_data["params"] or {}
        if not isinstance(params, dict):
            raise ValidationError("Parameters are a JSON object of name: value.")
        module = rule_modules().get(self.instance.code)
        if module is not None:
            unknown = sorted(set(params) - set(module.DEFAULTS))
            if unknown:
                raise ValidationError(
                    f"Unknown parameter(s) {', '.join(unknown)}; this rule takes "
                    f"{', '.join(sorted(module.DEFAULTS))}."
                )
            for name, default in module.DEFAULTS.items():
                value = params.get(name, default)
                if isinstance(default, list) != isinstance(value, list) or (
                    not isinstance(default, list)
                    and (isinstance(value, bool) or not isinstance(value, int | float))
                ):
                    raise ValidationError(
                        f"{name} must be {'a list' if isinstance(default, list) else 'a number'}."
                    )
                if not isinstance(default, list) and value < 0:
                    raise ValidationError(f"{name} cannot be negative.")
        return params


@admin.register(RiskRule)
class RiskRuleAdmin(admin.ModelAdmin):
    """One row per rule: switch it on or off, set its score and parameters. The precision column
    is what decided cases say about it: confirmed / (confirmed + cleared) cases it fired in."""

    form = RiskRuleForm
    list_display = ("name", "code", "enabled", "score", "signals", "decided", "precision")
    readonly_fields = ("code", "name", "definition", "updated_at")
    fields = ("code", "name", "definition", "enabled", "score", "params", "updated_at")

    def get_queryset(self, request):
        # The figures come with the rules' own query (one query for the list, no N+1).
        return with_rule_statistics(super().get_queryset(request))

    @admin.display(description="signals", ordering="signal_count")
    def signals(self, obj):
        return obj.signal_count

    @admin.display(description="decided cases", ordering="decided")
    def decided(self, obj):
        return obj.decided

    @admin.display(description="precision (confirmed / decided)")
    def precision(self, obj):
        value = rule_precision(decided=obj.decided, confirmed=obj.confirmed)
        return "—" if value is None else f"{value:.0%} ({obj.confirmed} confirmed)"

    @admin.display(description="definition")
    def definition(self, obj):
        module = rule_modules().get(obj.code)
        doc = (module.__doc__ or "").strip() if module else ""
        return format_html('<pre style="white-space: pre-wrap">{}</pre>', doc)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        before = stored_values(RiskRule.objects.get(pk=obj.pk)) if obj.pk else None
        super().save_model(request, obj, form, change)
        audit_change(instance=obj, before=before, actor=request.user)


class RiskSignalInline(admin.TabularInline):
    model = RiskSignal
    extra = 0
    can_delete = False
    fields = ("created_at", "rule", "score", "summary", "evidence_shown", "source_event")
    readonly_fields = fields

    @admin.display(description="event")
    def source_event(self, obj):
        return link("integrations.inboundevent", obj.source_event_id)

    @admin.display(description="evidence (shared values masked)")
    def evidence_shown(self, obj):
        return format_html(
            '<pre style="white-space: pre-wrap; max-height: 12em; overflow: auto">{}</pre>',
            json.dumps(obj.evidence, indent=1, ensure_ascii=False)[:4000],
        )

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class RiskDecisionInline(admin.TabularInline):
    model = RiskDecision
    extra = 0
    can_delete = False
    fields = ("decided_at", "action", "decided_by", "reason", "effects")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class DecisionForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), help_text="Recorded with the decision."
    )


class ConfirmForm(DecisionForm):
    suspend_affiliate = forms.BooleanField(
        required=False, help_text="Suspend the affiliate (it accrues nothing; its balance is held)."
    )
    suppress_postbacks = forms.BooleanField(
        required=False, help_text="Switch off the affiliate's postback templates."
    )


@admin.register(RiskCase)
class RiskCaseAdmin(admin.ModelAdmin):
    """The risk queue: open and escalated cases first. Each case shows its signals (evidence,
    players, timelines) and what it holds; Compliance and Finance clear, confirm or escalate it
    from its page, with a reason."""

    list_display = (
        "id",
        "affiliate",
        "status",
        "score",
        "opened_at",
        "held_now",
        "payouts_held",
        "decided_by",
    )
    list_filter = ("status",)
    search_fields = ("=id", "=affiliate__id", "affiliate__name", "=players__id")
    list_select_related = ("affiliate", "decided_by", "payout_hold")
    show_full_result_count = False
    inlines = [RiskSignalInline, RiskDecisionInline]
    readonly_fields = (
        "affiliate",
        "status",
        "score",
        "held_now",
        "payouts_held",
        "player_links",
        "opened_at",
        "decided_by",
        "decided_at",
        "decision_reason",
    )
    fields = readonly_fields
    change_form_template = "risk/admin/riskcase_change_form.html"

    DECISIONS = {
        "clear": ("Clear", "Not fraud: every hold this case placed is released.", DecisionForm),
        "confirm": (
            "Confirm",
            "Fraud: every line this case holds is reversed (a pending line fails, an approved or "
            "paid one is clawed back in the current period, to the cent). The payout hold stays.",
            ConfirmForm,
        ),
        "escalate": (
            "Escalate",
            "The case stays open, its holds stay, for a senior review.",
            DecisionForm,
        ),
    }

    def get_urls(self):
        decide = self.admin_site.admin_view(self.decide_view)
        return [
            path("<int:pk>/decide/<str:decision>/", decide, name="risk_riskcase_decide"),
            *super().get_urls(),
        ]

    def get_ordering(self, request):
        # The queue: open and escalated cases first, the highest score first among them.
        live_first = Case(When(status__in=RiskCase.LIVE, then=Value(0)), default=Value(1))
        return (live_first.asc(), "-score", "-opened_at")

    def get_queryset(self, request):
        # What each case holds, per currency, in the cases' own query (the list column).
        return with_held_now(super().get_queryset(request))

    @admin.display(description="held now")
    def held_now(self, obj):
        return held_text(held_now_of(obj))

    @admin.display(description="payouts held", boolean=True)
    def payouts_held(self, obj):
        return bool(obj.payout_hold_id and obj.payout_hold.released_at is None)

    @admin.display(description="players")
    def player_links(self, obj):
        players = list(obj.players.order_by("pk").values_list("pk", flat=True)[:200])
        return (
            format_html_join(
                ", ",
                '<a href="{}">#{}</a>',
                ((reverse("admin:players_player_change", args=[pk]), pk) for pk in players),
            )
            or "—"
        )

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # decided through the decision pages, never edited

    def change_view(self, request, object_id, form_url="", extra_context=None):
        case = self.get_object(request, object_id)
        can_decide = bool(case and case.is_live and request.user.has_perm("risk.decide_riskcase"))
        return super().change_view(
            request,
            object_id,
            form_url,
            {
                **(extra_context or {}),
                "can_decide": can_decide,
                "can_escalate": can_decide and case.status == RiskCase.Status.OPEN,
            },
        )

    def decide_view(self, request, pk: int, decision: str):
        if decision not in self.DECISIONS:
            raise Http404("No such decision.")
        case = self.get_object(request, str(pk))
        if case is None:
            raise Http404("No such risk case.")
        if not request.user.has_perm("risk.decide_riskcase"):
            raise PermissionDenied("Deciding risk cases needs the Compliance or Finance role.")
        back = HttpResponseRedirect(reverse("admin:risk_riskcase_change", args=[case.pk]))
        if not case.is_live:
            self.message_user(
                request, f"{case} is already {case.get_status_display().lower()}.", messages.WARNING
            )
            return back
        imperative, intro, form_class = self.DECISIONS[decision]
        form = form_class(request.POST if request.method == "POST" else None)
        if form.is_bound and form.is_valid():
            try:
                if decision == "clear":
                    services.risk_case_clear(
                        case=case, acting_user=request.user, reason=form.cleaned_data["reason"]
                    )
                elif decision == "escalate":
                    services.risk_case_escalate(
                        case=case, acting_user=request.user, reason=form.cleaned_data["reason"]
                    )
                else:
                    services.risk_case_confirm(
                        case=case,
                        acting_user=request.user,
                        reason=form.cleaned_data["reason"],
                        suspend_affiliate=form.cleaned_data["suspend_affiliate"],
                        suppress_postbacks=form.cleaned_data["suppress_postbacks"],
                    )
            except services.RiskError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                return back
            case.refresh_from_db()
            self.message_user(
                request, f"{case}: {case.get_status_display().lower()}.", messages.SUCCESS
            )
            return back
        return TemplateResponse(
            request,
            "risk/admin/riskcase_decide.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "case": case,
                "form": form,
                "title": f"{imperative} {case}?",
                "intro": intro,
                "held": held_text(held_now_of(case)),
                "submit_label": f"{imperative} and record the reason",
            },
        )


@admin.register(RiskSignal)
class RiskSignalAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "created_at", "rule", "affiliate", "score", "summary", "case")
    list_filter = ("rule",)
    list_select_related = ("rule", "affiliate", "case")
    search_fields = ("=affiliate__id", "=case__id", "=players__id")
    show_full_result_count = False


@admin.register(AffiliateIdentityValue)
class AffiliateIdentityValueAdmin(admin.ModelAdmin):
    """The affiliates' own identity values (keyed hashes of their registered identity and payout
    destination) the self-referral rule compares players' values with."""

    list_display = ("affiliate", "kind", "source", "masked", "created_at")
    list_select_related = ("affiliate",)
    list_filter = ("kind", "source")
    search_fields = ("=affiliate__id",)
    autocomplete_fields = ()
    raw_id_fields = ("affiliate",)

    @admin.display(description="value")
    def masked(self, obj):
        from apps.players.models import mask_identity

        return mask_identity(obj.value)

    def save_model(self, request, obj, form, change):
        before = stored_values(AffiliateIdentityValue.objects.get(pk=obj.pk)) if obj.pk else None
        super().save_model(request, obj, form, change)
        audit_change(instance=obj, before=before, actor=request.user)


from apps.risk import story_panels  # noqa: E402,F401  (the affiliate page's risk cases)
