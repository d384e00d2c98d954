"""Identifier mappings in the admin: immutable rows, created and retired through services."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse

from apps.core.admin_mixins import ReadOnlyAdminMixin
from apps.mappings import services
from apps.mappings.models import IdentifierMapping, ResolutionStat

IMMUTABLE_FIELDS = (
    "player",
    "system",
    "external_id",
    "source",
    "created_at",
    "retired_at",
    "retired_reason",
)


class IdentifierMappingForm(forms.ModelForm):
    class Meta:
        model = IdentifierMapping
        fields = ("player", "system", "external_id")

    def clean(self):
        data = super().clean()
        system, external_id = data.get("system"), data.get("external_id")
        if system and external_id:
            try:
                services.validate_identifier(system, external_id)
            except services.MappingError as exc:
                raise forms.ValidationError(str(exc)) from exc
            if IdentifierMapping.objects.filter(
                system=system, external_id=external_id, retired_at__isnull=True
            ).exists():
                raise forms.ValidationError(
                    f"{system}:{external_id} is already mapped to a player. Retire that mapping "
                    "first."
                )
        return data


class RetireForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), max_length=1000)


@admin.register(IdentifierMapping)
class IdentifierMappingAdmin(admin.ModelAdmin):
    form = IdentifierMappingForm
    list_display = ("system", "external_id", "player", "source", "created_at", "retired_at")
    list_filter = ("system", ("retired_at", admin.EmptyFieldListFilter))
    search_fields = ("=external_id", "=player__id")
    list_select_related = ("player",)
    raw_id_fields = ("player",)
    show_full_result_count = False
    actions = ("retire_mappings",)

    def get_fields(self, request, obj=None):
        return IMMUTABLE_FIELDS if obj else ("player", "system", "external_id")

    def get_readonly_fields(self, request, obj=None):
        # Immutable once created: a change is a retirement plus a new mapping.
        return IMMUTABLE_FIELDS if obj else ()

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if change:
            return
        data = form.cleaned_data
        created = services.mapping_create(
            player=data["player"],
            system=data["system"],
            external_id=data["external_id"],
            source=f"admin:{request.user.get_username()}",
            acting_user=request.user,
        )
        for field in obj._meta.concrete_fields:
            setattr(obj, field.attname, getattr(created, field.attname))
        obj._state.adding = False

    @admin.action(description="Retire selected mappings…", permissions=["change"])
    def retire_mappings(self, request, queryset):
        queryset = queryset.filter(retired_at__isnull=True).select_related("player").order_by("pk")
        form = RetireForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            count = 0
            for mapping in queryset:
                services.mapping_retire(
                    mapping=mapping, reason=form.cleaned_data["reason"], acting_user=request.user
                )
                count += 1
            self.message_user(request, f"Retired {count} mapping(s).", messages.SUCCESS)
            return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Retire identifier mappings",
            "mappings": list(queryset),
            "form": form,
        }
        return TemplateResponse(request, "admin/mappings/identifiermapping/retire.html", context)


@admin.register(ResolutionStat)
class ResolutionStatAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("hour", "system", "shard", "lookups", "misses")
    list_filter = ("system",)
    date_hierarchy = "hour"
    show_full_result_count = False
