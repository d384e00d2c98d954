"""Compliance facts in the admin. Writes go through apps.compliance.services (audited)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.utils import timezone

from apps.compliance import services
from apps.compliance.models import BrandLicence, Jurisdiction, KycRecord, SelfExclusion
from apps.compliance.selectors import self_exclusions_in_force


def adopt(obj, created) -> None:
    for field in obj._meta.concrete_fields:
        setattr(obj, field.attname, getattr(created, field.attname))
    obj._state.adding = False
    obj._state.db = created._state.db


def admin_source(request) -> str:
    return f"admin:{request.user.get_username()}"


@admin.register(Jurisdiction)
class JurisdictionAdmin(admin.ModelAdmin):
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
        adopt(obj, services.brand_licence_set(
            brand=obj.brand, country=obj.country_id, is_active=form.cleaned_data["is_active"],
            note=form.cleaned_data.get("note", ""), acting_user=request.user,
        ))


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
        return ("player", "status", "updated_at", "is_current", "source", "received_at") if obj else ()

    def get_changeform_initial_data(self, request):
        return {"updated_at": timezone.now()}

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if change:
            return
        adopt(obj, services.kyc_record_update(
            player=form.cleaned_data["player"], status=form.cleaned_data["status"],
            occurred_at=form.cleaned_data["updated_at"], source=admin_source(request), acting_user=request.user,
        ))


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
        return ("player", "scheme", "starts_at", "ends_at", "ended_at", "source", "created_at") if obj else ()

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if change:
            return
        data = form.cleaned_data
        adopt(obj, services.self_exclusion_start(
            player=data["player"], starts_at=data["starts_at"], ends_at=data.get("ends_at"), scheme=data["scheme"],
            source=admin_source(request), acting_user=request.user,
        ))

    @admin.action(description="End selected self-exclusions now", permissions=["change"])
    def end_now(self, request, queryset):
        now = timezone.now()
        ended = 0
        for exclusion in queryset.filter(ended_at__isnull=True, starts_at__lte=now).select_related("player").order_by("pk"):
            ended += len(services.self_exclusion_end(
                player=exclusion.player, ended_at=now, scheme=exclusion.scheme, source=admin_source(request),
                acting_user=request.user, reason="Ended in admin",
            ))
        self.message_user(request, f"Ended {ended} self-exclusion(s).", messages.SUCCESS)
