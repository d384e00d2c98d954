"""Admin of the integrations app: integrations and their signing secrets here; the rooms'
admins (inbound events, dead letters and parked events; poll configurations and reconciliation
runs; outbound endpoints, deliveries and alerts) are registered by the imports at the end.
Model admin URLs stay admin:integrations_<model>_... (the app label is unchanged)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages

from apps.core import conf
from apps.integrations.accounts import (
    SLUG_RE,
    integration_create,
    integration_rotate_secret,
    integration_update,
)
from apps.integrations.models import Integration, IntegrationSecret


class IntegrationSecretInline(admin.TabularInline):
    """Secrets are listed by age and expiry only: the key itself is never displayed."""

    model = IntegrationSecret
    fields = ("id", "created_at", "expires_at", "created_by")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False


class IntegrationAddForm(forms.ModelForm):
    """New integrations: the identifier system defaults to the slug."""

    class Meta:
        model = Integration
        fields = ("slug", "name", "kind", "id_system")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["id_system"].required = False
        self.fields["name"].required = False

    def clean_slug(self):
        slug = self.cleaned_data["slug"]
        if not SLUG_RE.match(slug):
            raise forms.ValidationError("Use lower-case letters, digits, '-' or '_'.")
        return slug


@admin.register(Integration)
class IntegrationAdmin(admin.ModelAdmin):
    list_display = (
        "slug",
        "name",
        "kind",
        "id_system",
        "is_active",
        "payload_schema_version",
        "created_at",
    )
    list_filter = ("kind", "is_active")
    search_fields = ("slug", "name", "id_system")
    inlines = (IntegrationSecretInline,)
    actions = ("rotate_signing_secret",)

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = IntegrationAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("slug", "name", "kind", "id_system")
        return (
            "slug",
            "kind",
            "name",
            "id_system",
            "is_active",
            "payload_schema_version",
            "created_at",
            "updated_at",
        )

    def get_readonly_fields(self, request, obj=None):
        return ("slug", "kind", "created_at", "updated_at") if obj else ()

    def has_delete_permission(self, request, obj=None):
        return False  # events reference it; disable instead

    def save_model(self, request, obj, form, change):
        """Writes go through the services (audited); a new integration's secret is shown once."""
        if change:
            changes = {name: form.cleaned_data[name] for name in form.changed_data}
            if changes:
                integration_update(integration=obj, acting_user=request.user, **changes)
            return
        integration, secret = integration_create(
            slug=obj.slug,
            kind=obj.kind,
            id_system=obj.id_system or None,
            name=obj.name or None,
            acting_user=request.user,
        )
        obj.pk = integration.pk
        self.message_user(
            request,
            f"Signing secret for {integration.slug} (shown once, copy it now): {secret}",
            messages.WARNING,
        )

    def save_related(self, request, form, formsets, change):
        # Secrets are read-only here; nothing related is saved through the form.
        return

    @admin.action(description="Rotate signing secret", permissions=["change"])
    def rotate_signing_secret(self, request, queryset):
        grace = conf.duration("AFFILIATEHUB_SECRET_ROTATION_GRACE")
        for integration in queryset.order_by("pk"):
            secret = integration_rotate_secret(integration=integration, acting_user=request.user)
            self.message_user(
                request,
                f"New signing secret for {integration.slug} (shown once, copy it now): {secret} — "
                f"the previous secret keeps verifying for {grace}.",
                messages.WARNING,
            )


# The rooms register their own model admins (Django's autodiscovery imports this module only).
from apps.integrations.inbound import admin as inbound_admin  # noqa: E402,F401
from apps.integrations.outbound import admin as outbound_admin  # noqa: E402,F401
from apps.integrations.polling import admin as polling_admin  # noqa: E402,F401
