from django.contrib import admin, messages

from apps.core.models import ApiKey, AuditLog
from apps.core.services import apikey_revoke


@admin.register(AuditLog)
class AuditLogAdmin(admin.ModelAdmin):
    list_display = ("created_at", "action", "object_type", "object_repr", "actor", "actor_label")
    list_filter = ("action", "object_type", "created_at")
    search_fields = ("object_id", "object_repr", "reason", "actor__username", "actor_label")
    list_select_related = ("actor",)
    date_hierarchy = "created_at"
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "scopes", "is_active", "last_used_at", "created_at")
    list_filter = ("is_active",)
    search_fields = ("name", "prefix")
    readonly_fields = ("name", "prefix", "key_hash", "scopes", "is_active", "last_used_at", "created_at", "created_by")
    actions = ("revoke_keys",)

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
