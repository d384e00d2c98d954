"""Admin of the inbound room: inbound events, dead letters, parked events, conflicts and
schema warnings."""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import Truncator

from apps.core.admin_mixins import ReadOnlyAdminMixin
from apps.core.bounded import json_preview
from apps.core.filters import filterset_list_filter
from apps.core.story import StoryAdminMixin
from apps.integrations.filters import InboundEventFilter
from apps.integrations.inbound import partitions
from apps.integrations.inbound.archive import archived_event_location
from apps.integrations.inbound.registry import EVENT_TYPES
from apps.integrations.inbound.services import (
    InboundEventError,
    StillInvalid,
    inbound_event_replay,
    inbound_events_unpark,
)
from apps.integrations.models import (
    DeadLetterEvent,
    EventArchive,
    EventStatus,
    InboundConflict,
    InboundEvent,
    InboundEventKey,
    Integration,
    ParkedEvent,
    SchemaWarningSeen,
)

# What a detail page shows of a stored document or body; the rest is summarised.
PREVIEW_MAX_CHARS = 20_000


def _preview_text(text: str) -> str:
    if len(text) <= PREVIEW_MAX_CHARS:
        return text
    hidden = len(text) - PREVIEW_MAX_CHARS
    return f"{text[:PREVIEW_MAX_CHARS]}\n… ({hidden:,} more characters not shown)"


def _raw_body_html(text: str) -> str:
    if not text:
        return "-"
    return format_html(
        "<pre style='white-space: pre-wrap; margin: 0'>{}</pre>", _preview_text(text)
    )


def _pretty(value) -> str:
    """Any stored JSON, however deep or large: deep parts clipped (json_preview), long text cut."""
    text = json.dumps(
        json_preview(value), indent=2, ensure_ascii=False, sort_keys=True, default=str
    )
    return format_html(
        "<pre style='white-space: pre-wrap; margin: 0'>{}</pre>", _preview_text(text)
    )


RecoveredByRunFilter = filterset_list_filter(
    filterset_class=InboundEventFilter, name="recovered_by_run", title="recovered by run"
)


class EventTypeFilter(admin.SimpleListFilter):
    """Static choices: a DISTINCT over the event table would scan it."""

    title = "type"
    parameter_name = "event_type"

    def lookups(self, request, model_admin):
        return [(event_type, event_type) for event_type in sorted(EVENT_TYPES)]

    def queryset(self, request, queryset):
        return queryset.filter(event_type=self.value()) if self.value() else queryset


class _EventAdminBase(ReadOnlyAdminMixin, StoryAdminMixin, admin.ModelAdmin):
    # Read-only: events are evidence: viewed, replayed, never edited (no Save button).
    story_subject = "event"  # the facts and ledger lines it produced, from the apps that hold them
    # What the Integrations role needs first; source and times of occurrence are in the detail.
    list_display = (
        "id",
        "status",
        "event_type",
        "integration",
        "received_at",
        "attempts",
        "webhook_id",
    )
    list_filter = (
        "status",
        "integration",
        EventTypeFilter,
        "source",
        "received_at",
        RecoveredByRunFilter,
    )
    search_fields = ("webhook_id__exact", "payload__data__player_id__exact")
    search_help_text = "Exact webhook id or data.player_id."
    list_select_related = ("integration",)
    show_full_result_count = False
    ordering = ("-received_at", "-id")
    fields = (
        "integration",
        "webhook_id",
        "event_type",
        "occurred_at",
        "received_at",
        "source",
        "status",
        "attempts",
        "next_attempt_at",
        "processed_at",
        "last_error_pre",
        "errors_pretty",
        "warnings_pretty",
        "parked_system",
        "parked_external_id",
        "parked_at",
        "payload_pretty",
        "raw_body_preview",
        "body_hash",
    )
    readonly_fields = fields
    actions = ("replay_events",)

    def has_replay_permission(self, request):
        return request.user.has_perm("integrations.replay_inboundevent")

    @admin.display(description="payload")
    def payload_pretty(self, obj):
        return _pretty(obj.payload)

    @admin.display(description="raw body")
    def raw_body_preview(self, obj):
        return _raw_body_html(obj.raw_body)

    @admin.display(description="errors")
    def errors_pretty(self, obj):
        return _pretty(obj.errors) if obj.errors else "-"

    @admin.display(description="warnings")
    def warnings_pretty(self, obj):
        return _pretty(obj.warnings) if obj.warnings else "-"

    @admin.display(description="last error")
    def last_error_pre(self, obj):
        return (
            format_html("<pre style='white-space: pre-wrap'>{}</pre>", obj.last_error)
            if obj.last_error
            else "-"
        )

    @admin.display(description="error")
    def error_summary(self, obj):
        text = (
            obj.last_error.strip().splitlines()[-1]
            if obj.last_error
            else json.dumps(obj.errors)[:200]
        )
        return Truncator(text).chars(120)

    @admin.action(description="Replay selected dead or invalid events", permissions=["replay"])
    def replay_events(self, request, queryset):
        replayed, still_invalid, refused = 0, [], []
        for event in queryset.order_by("occurred_at", "received_at", "pk"):
            try:
                inbound_event_replay(event=event, acting_user=request.user)
                replayed += 1
            except StillInvalid as exc:
                still_invalid.append(f"#{event.pk}: {exc}")
            except InboundEventError as exc:
                refused.append(str(exc))
        if replayed:
            self.message_user(
                request,
                f"Replayed {replayed} event(s); they are queued for processing.",
                messages.SUCCESS,
            )
        for text in still_invalid[:20]:
            self.message_user(request, text, messages.ERROR)
        if refused:
            self.message_user(
                request,
                f"Not replayed ({len(refused)}): " + " ".join(refused[:10]),
                messages.WARNING,
            )


@admin.register(InboundEvent)
class InboundEventAdmin(_EventAdminBase):
    """All events. An event whose month was archived is no longer a row: opening its id, or
    searching its webhook id, says which archive file holds it."""

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if object_id.isdigit() and not InboundEvent.objects.filter(pk=object_id).exists():
            archive = archived_event_location(event_id=int(object_id))
            if archive is not None:
                self.message_user(
                    request,
                    f"Event {object_id} was archived in {archive.path} "
                    f"({archive.month:%Y-%m}, SHA-256 {archive.sha256}): "
                    f"manage.py inbound_events read {archive.month:%Y-%m} --id {object_id}",
                    messages.WARNING,
                )
                return HttpResponseRedirect(reverse("admin:integrations_inboundevent_changelist"))
        return super().change_view(request, object_id, form_url, extra_context)

    def changelist_view(self, request, extra_context=None):
        term = request.GET.get("q", "").strip()
        if term:
            integrations = request.GET.get("integration__id__exact")
            for key, archive in _archived_webhook_ids(term, integrations):
                self.message_user(
                    request,
                    f"Webhook id {term!r} of {key.integration} (event {key.event_id}) was "
                    f"archived in {archive.path} ({archive.month:%Y-%m}).",
                    messages.INFO,
                )
        return super().changelist_view(request, extra_context)


def _archived_webhook_ids(webhook_id: str, integration_id: str | None):
    """(key, archive) of each archived event with this webhook id (any or one integration)."""
    integration_ids = (
        [int(integration_id)]
        if integration_id and integration_id.isdigit()
        else list(Integration.objects.values_list("pk", flat=True))
    )
    keys = InboundEventKey.objects.filter(
        integration_id__in=integration_ids, webhook_id=webhook_id
    ).select_related("integration")
    archives = {
        (archive.month): archive
        for archive in EventArchive.objects.filter(table=InboundEvent._meta.db_table)
    }
    found = []
    for key in keys:
        archive = archives.get(partitions.month_start(key.received_at))
        if archive is not None:
            found.append((key, archive))
    return found


@admin.register(DeadLetterEvent)
class DeadLetterAdmin(_EventAdminBase):
    """Dead (retries exhausted, or parked too long) and invalid events, replayable."""

    list_display = (
        "id",
        "status",
        "event_type",
        "integration",
        "received_at",
        "attempts",
        "error_summary",
    )
    list_filter = ("status", "integration", EventTypeFilter, "source", "received_at")

    def get_queryset(self, request):
        return (
            super().get_queryset(request).filter(status__in=[EventStatus.DEAD, EventStatus.INVALID])
        )


@admin.register(ParkedEvent)
class ParkedEventAdmin(_EventAdminBase):
    """Events waiting for an unknown identifier to be mapped to a player."""

    list_display = (
        "id",
        "occurred_at",
        "integration",
        "event_type",
        "parked_system",
        "parked_external_id",
        "parked_at",
        "error_summary",
    )
    list_filter = ("integration", EventTypeFilter, "parked_system", "parked_at")
    search_fields = (
        "parked_external_id__exact",
        "webhook_id__exact",
        "payload__data__player_id__exact",
    )
    search_help_text = "Exact unresolved identifier, webhook id or data.player_id."
    actions = ("rerun_parked",)

    def get_queryset(self, request):
        return super().get_queryset(request).filter(status=EventStatus.PARKED)

    @admin.action(
        description="Re-run now (all parked events of the selected identifiers)",
        permissions=["replay"],
    )
    def rerun_parked(self, request, queryset):
        identifiers = sorted(set(queryset.values_list("parked_system", "parked_external_id")))
        total = sum(
            inbound_events_unpark(system=system, external_id=external_id)
            for system, external_id in identifiers
        )
        self.message_user(
            request,
            f"Re-queued {total} parked event(s) for {len(identifiers)} identifier(s); "
            "unresolved ones park again.",
            messages.SUCCESS,
        )


@admin.register(InboundConflict)
class InboundConflictAdmin(admin.ModelAdmin):
    list_display = ("id", "received_at", "integration", "webhook_id", "original", "source")
    list_filter = ("integration", "source", "received_at")
    search_fields = ("webhook_id__exact",)
    list_select_related = ("integration", "original")
    show_full_result_count = False
    fields = (
        "integration",
        "webhook_id",
        "original",
        "source",
        "received_at",
        "body_hash",
        "payload_pretty",
        "raw_body_preview",
    )
    readonly_fields = fields

    @admin.display(description="raw body")
    def raw_body_preview(self, obj):
        return _raw_body_html(obj.raw_body)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="payload")
    def payload_pretty(self, obj):
        return _pretty(obj.payload)


@admin.register(SchemaWarningSeen)
class SchemaWarningSeenAdmin(admin.ModelAdmin):
    list_display = ("integration", "event_type", "field", "first_seen_at", "example_event")
    list_filter = ("integration", "event_type")
    list_select_related = ("integration",)
    readonly_fields = ("integration", "event_type", "field", "first_seen_at", "example_event")

    def has_add_permission(self, request):
        return False
