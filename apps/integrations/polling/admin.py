"""Admin for polling connectors and reconciliation runs (drill-down to recovered events)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from apps.core.admin_mixins import ReadOnlyAdminMixin
from apps.core.filters import filterset_list_filter
from apps.core.outbound_policy import url_refusal_message
from apps.integrations.filters import ReconciliationRunFilter
from apps.integrations.models import PollConfig, ReconciliationRun
from apps.integrations.polling import tasks as polling_tasks
from apps.integrations.polling.services import PollError, poll_config_save

RunWithDeltaFilter = filterset_list_filter(
    filterset_class=ReconciliationRunFilter,
    name="with_delta",
    title="missed by webhooks",
    lookups=lambda request, model_admin: [
        ("true", "Recovered events"),
        ("false", "Nothing missed"),
    ],
)


class PollConfigForm(forms.ModelForm):
    """The auth header value is write-only: left empty, the stored value is kept."""

    auth_header_value = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Leave empty to keep the stored value.",
    )
    clear_auth_header_value = forms.BooleanField(required=False, label="Remove the stored value")

    class Meta:
        model = PollConfig
        fields = (
            "integration",
            "url",
            "adapter",
            "server",
            "auth_header_name",
            "auth_header_value",
            "page_size",
            "window_overlap",
            "event_types",
            "interval_minutes",
            "initial_lookback",
            "timeout_seconds",
            "max_attempts",
            "enabled",
        )

    def clean_url(self):
        url = self.cleaned_data["url"]
        error = url_refusal_message(url)
        if error:
            raise forms.ValidationError(error)
        return url


@admin.register(PollConfig)
class PollConfigAdmin(admin.ModelAdmin):
    form = PollConfigForm
    list_display = (
        "integration",
        "adapter",
        "url",
        "interval_minutes",
        "enabled",
        "last_window_end",
        "auth_masked",
        "runs_link",
    )
    list_filter = ("adapter", "enabled")
    list_select_related = ("integration",)
    search_fields = ("integration__slug", "url")
    readonly_fields = (
        "auth_masked",
        "last_window_end",
        "periodic_task",
        "created_at",
        "updated_at",
    )
    actions = ("poll_now", "backfill")

    def get_readonly_fields(self, request, obj=None):
        return (*self.readonly_fields, "integration") if obj else self.readonly_fields

    def get_fields(self, request, obj=None):
        fields = [*self.form.Meta.fields, "clear_auth_header_value"]
        if obj:
            fields += [
                "auth_masked",
                "last_window_end",
                "periodic_task",
                "created_at",
                "updated_at",
            ]
        return fields

    @admin.display(description="auth value")
    def auth_masked(self, obj):
        return obj.masked_auth_value or "-"

    @admin.display(description="runs")
    def runs_link(self, obj):
        url = (
            reverse("admin:integrations_reconciliationrun_changelist")
            + f"?integration__id__exact={obj.integration_id}"
        )
        return format_html('<a href="{}">runs</a>', url)

    def save_model(self, request, obj, form, change):
        """Through the service: validated, audited, and the beat schedule kept in step."""
        fields = {
            name: form.cleaned_data[name] for name in form.Meta.fields if name != "integration"
        }
        if not fields["auth_header_value"]:
            fields.pop("auth_header_value")
        if form.cleaned_data.get("clear_auth_header_value"):
            fields["auth_header_value"] = ""
        try:
            saved = poll_config_save(
                integration=form.cleaned_data.get("integration") or obj.integration,
                acting_user=request.user,
                **fields,
            )
        except PollError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        obj.pk = saved.pk

    @admin.action(description="Poll now", permissions=["change"])
    def poll_now(self, request, queryset):
        configs = list(queryset.select_related("integration").order_by("pk"))
        for config in configs:
            transaction.on_commit(
                lambda c=config: polling_tasks.poll_integration.delay(
                    c.integration_id, trigger="manual", requested_by=request.user.get_username()
                )
            )
        self.message_user(
            request,
            f"Polling {len(configs)} integration(s) now; see Reconciliation runs for the result.",
            messages.SUCCESS,
        )

    @admin.action(description="Backfill a date range…", permissions=["change"])
    def backfill(self, request, queryset):
        configs = list(queryset.select_related("integration").order_by("pk"))
        form = BackfillForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            since, until = form.cleaned_data["since"], form.cleaned_data["until"]
            for config in configs:
                transaction.on_commit(
                    lambda c=config: polling_tasks.poll_integration.delay(
                        c.integration_id,
                        trigger="backfill",
                        since=since.isoformat(),
                        until=until.isoformat(),
                        requested_by=request.user.get_username(),
                    )
                )
            self.message_user(
                request,
                f"Backfill of {since:%Y-%m-%d %H:%M} to {until:%Y-%m-%d %H:%M} queued for "
                f"{len(configs)} integration(s).",
                messages.SUCCESS,
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "configs": configs,
            "title": "Backfill",
        }
        return TemplateResponse(request, "admin/integrations/poll_backfill.html", context)


class BackfillForm(forms.Form):
    since = forms.DateTimeField(help_text="Start (operator time zone), e.g. 2026-11-01 00:00.")
    until = forms.DateTimeField(help_text="End; default now.", required=False)

    def clean(self):
        data = super().clean()
        since = data.get("since")
        until = data.get("until") or timezone.now()
        if since and since >= until:
            raise forms.ValidationError("The start must be before the end.")
        data["until"] = until
        return data


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "integration",
        "status",
        "window_start",
        "window_end",
        "polled",
        "recovered_link",
        "failed",
        "started_at",
    )
    list_filter = ("status", "trigger", "integration", RunWithDeltaFilter, "started_at")
    list_select_related = ("integration",)
    show_full_result_count = False
    search_fields = ("integration__slug__exact",)
    readonly_fields = (
        "integration",
        "trigger",
        "window_start",
        "window_end",
        "status",
        "started_at",
        "finished_at",
        "pages",
        "polled",
        "already_received",
        "previously_polled",
        "recovered_link",
        "failed",
        "skipped",
        "delta",
        "error",
        "requested_by",
    )
    fields = readonly_fields

    @admin.display(description="recovered (missed by webhooks)", ordering="recovered")
    def recovered_link(self, obj):
        if not obj.recovered and not obj.failed:
            return obj.recovered
        url = reverse("admin:integrations_inboundevent_changelist") + f"?recovered_by_run={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, obj.recovered)
