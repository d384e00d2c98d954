"""Compliance facts in the admin. Writes go through apps.compliance.services (audited)."""

from __future__ import annotations

import datetime

from django import forms
from django.contrib import admin, messages
from django.utils import timezone

from apps.compliance import services
from apps.compliance.models import (
    BrandLicence,
    ExclusionOverride,
    Jurisdiction,
    KycRecord,
    SelfExclusion,
)
from apps.compliance.selectors import self_exclusions_in_force
from apps.core.admin_audit import AuditedAdminMixin


def adopt(obj, created) -> None:
    for field in obj._meta.concrete_fields:
        setattr(obj, field.attname, getattr(created, field.attname))
    obj._state.adding = False
    obj._state.db = created._state.db


def admin_source(request) -> str:
    return f"admin:{request.user.get_username()}"


@admin.register(Jurisdiction)
class JurisdictionAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("code", "name")
    search_fields = ("code", "name")

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(BrandLicence)
class BrandLicenceAdmin(admin.ModelAdmin):
    list_display = ("brand", "country", "is_active", "note", "updated_at")
    list_filter = ("is_active", "brand", "country")
    search_fields = ("brand", "country__code", "country__name", "note")
    list_select_related = ("country",)
    autocomplete_fields = ("country",)
    fields = ("brand", "country", "is_active", "note", "updated_at")

    def get_readonly_fields(self, request, obj=None):
        return ("brand", "country", "updated_at") if obj else ("updated_at",)

    def has_delete_permission(self, request, obj=None):
        return False  # withdraw a licence by deactivating it, so the history stays

    def save_model(self, request, obj, form, change):
        adopt(
            obj,
            services.brand_licence_set(
                brand=obj.brand,
                country=obj.country_id,
                is_active=form.cleaned_data["is_active"],
                note=form.cleaned_data.get("note", ""),
                acting_user=request.user,
            ),
        )


class KycRecordForm(forms.ModelForm):
    class Meta:
        model = KycRecord
        fields = ("player", "status", "updated_at")


@admin.register(KycRecord)
class KycRecordAdmin(admin.ModelAdmin):
    form = KycRecordForm
    list_display = ("player", "status", "updated_at", "is_current", "source", "received_at")
    list_filter = ("status", "is_current", "source")
    search_fields = ("=player__id", "source")
    list_select_related = ("player",)
    raw_id_fields = ("player",)
    date_hierarchy = "updated_at"
    show_full_result_count = False

    def get_fields(self, request, obj=None):
        if obj:
            return ("player", "status", "updated_at", "is_current", "source", "received_at")
        return ("player", "status", "updated_at")

    def get_readonly_fields(self, request, obj=None):
        # A KYC report is a fact: recorded once, never edited. Correct it with a newer report.
        return (
            ("player", "status", "updated_at", "is_current", "source", "received_at") if obj else ()
        )

    def get_changeform_initial_data(self, request):
        return {"updated_at": timezone.now()}

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if change:
            return
        adopt(
            obj,
            services.kyc_record_update(
                player=form.cleaned_data["player"],
                status=form.cleaned_data["status"],
                occurred_at=form.cleaned_data["updated_at"],
                source=admin_source(request),
                acting_user=request.user,
            ),
        )


class InForceFilter(admin.SimpleListFilter):
    title = "in force now"
    parameter_name = "in_force"

    def lookups(self, request, model_admin):
        return (("yes", "In force"), ("no", "Not in force"))

    def queryset(self, request, queryset):
        in_force = self_exclusions_in_force(at=timezone.now()).values("pk")
        if self.value() == "yes":
            return queryset.filter(pk__in=in_force)
        if self.value() == "no":
            return queryset.exclude(pk__in=in_force)
        return queryset


class SelfExclusionForm(forms.ModelForm):
    class Meta:
        model = SelfExclusion
        fields = ("player", "scheme", "starts_at", "ends_at")

    def clean(self):
        data = super().clean()
        if data.get("ends_at") and data.get("starts_at") and data["ends_at"] <= data["starts_at"]:
            raise forms.ValidationError("A self-exclusion must end after it starts.")
        return data


@admin.register(SelfExclusion)
class SelfExclusionAdmin(admin.ModelAdmin):
    form = SelfExclusionForm
    list_display = ("player", "scheme", "starts_at", "ends_at", "ended_at", "source")
    list_filter = (InForceFilter, "scheme", ("ended_at", admin.EmptyFieldListFilter))
    search_fields = ("=player__id", "source")
    list_select_related = ("player",)
    raw_id_fields = ("player",)
    date_hierarchy = "starts_at"
    actions = ("end_now",)

    def get_fields(self, request, obj=None):
        if obj:
            return ("player", "scheme", "starts_at", "ends_at", "ended_at", "source", "created_at")
        return ("player", "scheme", "starts_at", "ends_at")

    def get_readonly_fields(self, request, obj=None):
        return (
            ("player", "scheme", "starts_at", "ends_at", "ended_at", "source", "created_at")
            if obj
            else ()
        )

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if change:
            return
        data = form.cleaned_data
        adopt(
            obj,
            services.self_exclusion_start(
                player=data["player"],
                starts_at=data["starts_at"],
                ends_at=data.get("ends_at"),
                scheme=data["scheme"],
                source=admin_source(request),
                acting_user=request.user,
            ),
        )

    @admin.action(description="End selected self-exclusions now", permissions=["change"])
    def end_now(self, request, queryset):
        now = timezone.now()
        ended = 0
        for exclusion in (
            queryset.filter(ended_at__isnull=True, starts_at__lte=now)
            .select_related("player")
            .order_by("pk")
        ):
            ended += len(
                services.self_exclusion_end(
                    player=exclusion.player,
                    ended_at=now,
                    scheme=exclusion.scheme,
                    source=admin_source(request),
                    acting_user=request.user,
                    reason="Ended in admin",
                )
            )
        self.message_user(request, f"Ended {ended} self-exclusion(s).", messages.SUCCESS)


class ExclusionOverrideForm(forms.ModelForm):
    class Meta:
        model = ExclusionOverride
        fields = ("player", "kind", "reason", "starts_at", "expires_at")

    def clean(self):
        data = super().clean()
        if (
            data.get("starts_at")
            and data.get("expires_at")
            and data["expires_at"] <= data["starts_at"]
        ):
            raise forms.ValidationError("An override must expire after it starts.")
        return data


class OverrideActiveFilter(admin.SimpleListFilter):
    title = "active now"
    parameter_name = "active"

    def lookups(self, request, model_admin):
        return (("yes", "Active"), ("no", "Expired or revoked"))

    def queryset(self, request, queryset):
        active = ExclusionOverride.objects.active(at=timezone.now()).values("pk")
        if self.value() == "yes":
            return queryset.filter(pk__in=active)
        if self.value() == "no":
            return queryset.exclude(pk__in=active)
        return queryset


class RevokeForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), help_text="Why the override ends early."
    )


@admin.register(ExclusionOverride)
class ExclusionOverrideAdmin(admin.ModelAdmin):
    """Overrides of a player's exclusion or geo block: created with a reason and an expiry, never
    edited; revoked (with a reason) to end early. Every use by the accrual gate is in the audit
    log."""

    form = ExclusionOverrideForm
    list_display = (
        "player",
        "kind",
        "starts_at",
        "expires_at",
        "revoked_at",
        "created_by",
        "reason",
    )
    list_filter = (OverrideActiveFilter, "kind", ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("=player__id", "reason", "created_by__username")
    list_select_related = ("player", "created_by")
    raw_id_fields = ("player",)
    date_hierarchy = "created_at"
    actions = ("revoke",)

    def get_fields(self, request, obj=None):
        if obj:
            return (
                "player",
                "kind",
                "reason",
                "starts_at",
                "expires_at",
                "created_by",
                "created_at",
                "revoked_at",
                "revoked_by",
                "revoke_reason",
            )
        return ("player", "kind", "reason", "starts_at", "expires_at")

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj) if obj else ()

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        now = timezone.now()
        initial.setdefault("starts_at", now)
        initial.setdefault("expires_at", now + datetime.timedelta(days=30))
        return initial

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if change:
            return
        data = form.cleaned_data
        adopt(
            obj,
            services.exclusion_override_create(
                player=data["player"],
                kind=data["kind"],
                reason=data["reason"],
                starts_at=data["starts_at"],
                expires_at=data["expires_at"],
                acting_user=request.user,
            ),
        )

    @admin.action(
        description="Revoke selected overrides (asks for a reason)", permissions=["change"]
    )
    def revoke(self, request, queryset):
        from django.template.response import TemplateResponse

        form = RevokeForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            for override in queryset.order_by("pk"):
                services.exclusion_override_revoke(
                    override=override, reason=form.cleaned_data["reason"], acting_user=request.user
                )
            self.message_user(request, f"Revoked {queryset.count()} override(s).", messages.SUCCESS)
            return None
        return TemplateResponse(
            request,
            "core/admin/reason_form.html",
            {
                **self.admin_site.each_context(request),
                "title": "Revoke overrides",
                "form": form,
                "queryset": queryset,
                "action": "revoke",
                "intro": "These overrides will stop applying now.",
                "submit_label": "Revoke",
                "opts": self.model._meta,
            },
        )


from apps.compliance import story_panels  # noqa: E402,F401  (the player page's compliance panel)
