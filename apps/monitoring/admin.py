"""Admin for alert rules and alerts (acknowledge action) and the hourly rollup (read-only)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages

from apps.core.admin_audit import AuditedAdminMixin
from apps.core.admin_mixins import ReadOnlyAdminMixin
from apps.core.display import format_rate
from apps.monitoring.models import Alert, AlertRule, InboundHourlyStat, Metric
from apps.monitoring.services import alert_acknowledge

# Source rules only make sense one way round: volume falls below a fraction, silence and failed
# polls rise to a count.
SOURCE_COMPARISONS = {
    Metric.VOLUME_VS_BASELINE: {AlertRule.Comparison.LT},
    Metric.SILENT_MINUTES: {AlertRule.Comparison.GE, AlertRule.Comparison.GT},
    Metric.POLL_FAILURES_IN_A_ROW: {AlertRule.Comparison.GE, AlertRule.Comparison.GT},
}


class AlertRuleForm(forms.ModelForm):
    class Meta:
        model = AlertRule
        fields = (
            "name",
            "metric",
            "comparison",
            "threshold",
            "window",
            "integration",
            "min_samples",
            "is_active",
            "baseline_days",
            "notify_email",
            "webhook_endpoint",
        )

    def clean(self):
        cleaned = super().clean()
        allowed = SOURCE_COMPARISONS.get(cleaned.get("metric"))
        if allowed and cleaned.get("comparison") not in allowed:
            names = " or ".join(sorted(str(AlertRule.Comparison(c).label) for c in allowed))
            self.add_error("comparison", f"This metric fires {names} its threshold.")
        threshold = cleaned.get("threshold")
        if allowed and threshold is not None and threshold <= 0:
            self.add_error("threshold", "A source rule needs a threshold above zero.")
        return cleaned


@admin.register(AlertRule)
class AlertRuleAdmin(AuditedAdminMixin, admin.ModelAdmin):
    form = AlertRuleForm
    list_display = (
        "name",
        "metric",
        "comparison",
        "threshold",
        "window",
        "integration",
        "min_samples",
        "baseline_days",
        "is_active",
    )
    list_filter = ("metric", "window", "is_active")
    list_select_related = ("integration",)
    search_fields = ("name",)
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "name",
                    "metric",
                    "comparison",
                    "threshold",
                    "window",
                    "integration",
                    "min_samples",
                    "is_active",
                )
            },
        ),
        (
            "Source rules (volume, silence, failed polls)",
            {
                "fields": ("baseline_days",),
                "description": "Volume: the fraction (threshold, in %) of the usual volume for "
                "this hour of the day, "
                "the minimum baseline (minimum samples) and the baseline days. Silence: the "
                "minutes "
                "without an event (threshold). Failed polls: the runs in a row (threshold). Each "
                "integration gets its own alert.",
            },
        ),
        ("Notifications", {"fields": ("notify_email", "webhook_endpoint")}),
    )


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    """The one list of alerts: rule breaches and outbound events (dead deliveries, disabled
    endpoints) alike."""

    list_display = (
        "title_shown",
        "kind",
        "scope",
        "value_shown",
        "threshold_shown",
        "fired_at",
        "resolved_at",
        "acknowledged_by",
        "acknowledged_at",
    )
    list_filter = (
        ("resolved_at", admin.EmptyFieldListFilter),
        ("acknowledged_at", admin.EmptyFieldListFilter),
        "kind",
        "rule",
        "scope",
    )
    list_select_related = ("rule", "acknowledged_by")
    date_hierarchy = "fired_at"
    actions = ["acknowledge"]
    readonly_fields = (
        "kind",
        "rule",
        "integration",
        "endpoint",
        "delivery",
        "scope",
        "value_shown",
        "threshold_shown",
        "message",
        "fired_at",
        "resolved_at",
        "acknowledged_at",
        "acknowledged_by",
        "notifications",
    )

    @admin.display(description="alert", ordering="rule__name")
    def title_shown(self, obj):
        return obj.title

    @admin.display(description="value", ordering="value")
    def value_shown(self, obj):
        return "" if obj.value is None else format_rate(obj.value, 2)

    @admin.display(description="threshold", ordering="threshold")
    def threshold_shown(self, obj):
        return "" if obj.threshold is None else format_rate(obj.threshold, 2)

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
class InboundHourlyStatAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "hour",
        "integration",
        "received",
        "invalid",
        "processed",
        "failing",
        "dead",
        "parked",
        "latency_p50_ms",
        "latency_p95_ms",
        "latency_p99_ms",
        "refreshed_at",
    )
    list_filter = ("integration",)
    list_select_related = ("integration",)
    date_hierarchy = "hour"
    exclude = ("latency_buckets",)
    show_full_result_count = False
