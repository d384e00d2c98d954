"""Admin for alert rules and alerts (acknowledge action) and the hourly rollup (read-only)."""

from __future__ import annotations

from django.contrib import admin, messages

from apps.core.admin_audit import AuditedAdminMixin
from apps.monitoring.models import Alert, AlertRule, InboundHourlyStat
from apps.monitoring.services import alert_acknowledge


@admin.register(AlertRule)
class AlertRuleAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("name", "metric", "comparison", "threshold", "window", "integration", "min_samples", "is_active")
    list_filter = ("metric", "window", "is_active")
    list_select_related = ("integration",)
    search_fields = ("name",)
    fields = ("name", "metric", "comparison", "threshold", "window", "integration", "min_samples",
              "notify_email", "webhook_endpoint", "is_active")


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ("rule", "scope", "value", "threshold", "fired_at", "resolved_at", "acknowledged_by", "acknowledged_at")
    list_filter = (("resolved_at", admin.EmptyFieldListFilter), ("acknowledged_at", admin.EmptyFieldListFilter),
                   "rule", "scope")
    list_select_related = ("rule", "acknowledged_by")
    date_hierarchy = "fired_at"
    actions = ["acknowledge"]
    readonly_fields = ("rule", "integration", "scope", "value", "threshold", "message", "fired_at", "resolved_at",
                       "acknowledged_at", "acknowledged_by", "notifications")
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Acknowledge selected alerts", permissions=["change"])
    def acknowledge(self, request, queryset):
        count = 0
        for alert in queryset.filter(acknowledged_at__isnull=True).order_by("pk"):
            alert_acknowledge(alert=alert, acting_user=request.user)
            count += 1
        self.message_user(request, f"{count} alert(s) acknowledged.", messages.SUCCESS)


@admin.register(InboundHourlyStat)
class InboundHourlyStatAdmin(admin.ModelAdmin):
    list_display = ("hour", "integration", "received", "invalid", "processed", "failing", "dead", "parked",
                    "latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "refreshed_at")
    list_filter = ("integration",)
    list_select_related = ("integration",)
    date_hierarchy = "hour"
    exclude = ("latency_buckets",)
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
from apps.monitoring import admin_retention  # noqa: E402,F401
