import datetime as dt
import json
import re

from django.contrib import admin, messages
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from import_export import fields
from import_export.admin import ExportMixin
from import_export.formats.base_formats import CSV, JSON

from apps.core.admin_audit import AuditedAdminMixin
from apps.core.admin_mixins import ReadOnlyAdminMixin
from apps.core.exports import SafeExportResource
from apps.core.models import ApiKey, AuditLog
from apps.core.services import apikey_revoke


class AuditLogResource(SafeExportResource):
    """The audit log as exported: one row per change, its before/after values as JSON."""

    actor = fields.Field(attribute="actor__username", column_name="actor")

    class Meta:
        model = AuditLog
        fields = (
            "id",
            "created_at",
            "actor",
            "actor_label",
            "action",
            "object_type",
            "object_id",
            "object_repr",
            "before",
            "after",
            "reason",
        )
        export_order = fields

    def dehydrate_before(self, row):
        return json.dumps(row.before, sort_keys=True) if row.before is not None else ""

    def dehydrate_after(self, row):
        return json.dumps(row.after, sort_keys=True) if row.after is not None else ""


class ObjectIdFilter(admin.SimpleListFilter):
    """?object_id=<pk> (with object_type): one object's whole history; set by the "object" links."""

    title = "object"
    parameter_name = "object_id"

    def lookups(self, request, model_admin):
        value = self.value()
        return [(value, f"#{value}")] if value else []

    def queryset(self, request, queryset):
        return queryset.filter(object_id=self.value()) if self.value() else queryset


_DECIMAL = re.compile(r"^-?\d+\.\d*?0+$")


def _brief(value, limit: int = 60) -> str:
    """An audit value for a list cell: stored decimals without their padding zeros (at least two
    decimals), nested values as compact JSON, anything long cut with an ellipsis."""
    if isinstance(value, str) and _DECIMAL.match(value):
        whole, _, fraction = value.partition(".")
        value = f"{whole}.{fraction.rstrip('0').ljust(2, '0')}"
    text = (
        value if isinstance(value, str) else json.dumps(value, default=str, separators=(",", ":"))
    )
    return text if len(text) <= limit else text[: limit - 1] + "…"


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdminMixin, ExportMixin, admin.ModelAdmin):
    resource_classes = [AuditLogResource]
    formats = [CSV, JSON]
    list_display = (
        "created_at",
        "action",
        "object_link",
        "object_repr",
        "changes",
        "actor",
        "actor_label",
        "reason",
    )
    list_filter = ("object_type", ObjectIdFilter, "action", "created_at")
    search_fields = ("=object_id", "object_repr", "reason", "actor__username", "actor_label")
    list_select_related = ("actor",)
    date_hierarchy = "created_at"
    show_full_result_count = False

    @admin.display(description="object", ordering="object_type")
    def object_link(self, obj):
        url = reverse("admin:core_auditlog_changelist")
        return format_html(
            '<a href="{}?object_type={}&object_id={}" title="This object\'s whole history">{} '
            "#{}</a>",
            url,
            obj.object_type,
            obj.object_id,
            obj.object_type,
            obj.object_id,
        )

    @admin.display(description="before → after")
    def changes(self, obj):
        """What changed, briefly: the fields whose values differ (all of them on the detail
        page)."""
        before, after = obj.before or {}, obj.after or {}
        if not (isinstance(before, dict) and isinstance(after, dict)):
            return "—"
        keys = [k for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k)]
        parts = [
            f"{k}: {_brief(before.get(k, '—'))} → {_brief(after.get(k, '—'))}" for k in keys[:6]
        ]
        return (
            "; ".join(parts) + (f" … (+{len(keys) - 6})" if len(keys) > 6 else "")
            if parts
            else "no change"
        )


class ApiKeyExpiryFilter(admin.SimpleListFilter):
    title = "expiry"
    parameter_name = "expiry"

    def lookups(self, request, model_admin):
        return [
            ("expired", "Expired"),
            ("soon", "Expires within 30 days"),
            ("never", "Never expires"),
        ]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "expired":
            return queryset.filter(expires_at__lte=now)
        if self.value() == "soon":
            return queryset.filter(expires_at__gt=now, expires_at__lte=now + dt.timedelta(days=30))
        if self.value() == "never":
            return queryset.filter(expires_at__isnull=True)
        return queryset


class ApiKeyScopeFilter(admin.SimpleListFilter):
    title = "scope"
    parameter_name = "scope"

    def lookups(self, request, model_admin):
        return ApiKey.Scope.choices

    def queryset(self, request, queryset):
        return queryset.filter(scopes__contains=[self.value()]) if self.value() else queryset


@admin.register(ApiKey)
class ApiKeyAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """Keys are issued with `manage.py apikey_create`, which shows the plaintext once; here they
    are listed, limited (expiry, allowed addresses; audited) and revoked."""

    list_display = (
        "name",
        "prefix",
        "scope_list",
        "is_active",
        "expires_at",
        "last_used_at",
        "last_used_ip",
        "created_by",
        "created_at",
    )
    list_filter = ("is_active", ApiKeyExpiryFilter, ApiKeyScopeFilter, "created_at")
    search_fields = ("name", "=prefix", "created_by__username", "=last_used_ip")
    list_select_related = ("created_by",)
    fields = (
        "name",
        "prefix",
        "scopes",
        "is_active",
        "expires_at",
        "allowed_ips",
        "last_used_at",
        "last_used_ip",
        "created_at",
        "created_by",
    )
    readonly_fields = (
        "name",
        "prefix",
        "scopes",
        "is_active",
        "last_used_at",
        "last_used_ip",
        "created_at",
        "created_by",
    )
    actions = ("revoke_keys",)

    @admin.display(description="scopes")
    def scope_list(self, obj):
        return ", ".join(obj.scopes) or "—"

    def has_add_permission(self, request):
        # Keys are issued with `manage.py apikey_create`, which shows the plaintext once.
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Revoke selected API keys", permissions=["change"])
    def revoke_keys(self, request, queryset):
        count = 0
        for api_key in queryset.filter(is_active=True).order_by("pk"):
            apikey_revoke(api_key=api_key, acting_user=request.user, reason="Revoked in admin")
            count += 1
        self.message_user(request, f"Revoked {count} API key(s).", messages.SUCCESS)
