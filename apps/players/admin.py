"""Players in the admin: facts from registration, read-only."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html_join

from apps.core.story import StoryAdminMixin
from apps.players.models import Player

ATTRIBUTION_FIELDS = (
    "attribution_status",
    "attribution_note",
    "affiliate",
    "campaign",
    "link",
    "click",
    "tracking_token",
    "sub1",
    "sub2",
    "sub3",
    "sub4",
    "sub5",
)


@admin.register(Player)
class PlayerAdmin(StoryAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "brand",
        "country",
        "attribution_status",
        "affiliate",
        "campaign",
        "registered_at",
    )
    list_filter = (
        "attribution_status",
        "brand",
        "country",
        ("registered_at", admin.DateFieldListFilter),
        ("affiliate", admin.RelatedOnlyFieldListFilter),
    )
    search_fields = ("=id", "=tracking_token", "affiliate__name", "sub1")
    list_select_related = ("affiliate", "campaign")
    date_hierarchy = "registered_at"
    show_full_result_count = False
    fieldsets = (
        (
            None,
            {"fields": ("brand", "country", "registered_at", "identifiers", "cpa", "created_at")},
        ),
        ("Attribution", {"fields": ATTRIBUTION_FIELDS}),
    )
    readonly_fields = (
        "brand",
        "country",
        "registered_at",
        "identifiers",
        "cpa",
        "created_at",
        *ATTRIBUTION_FIELDS,
    )

    @admin.display(description="Identifiers")
    def identifiers(self, obj):
        # Detail page only (not a list column), so one query per page view.
        rows = obj.identifier_mappings.filter(retired_at__isnull=True).order_by(
            "system", "external_id"
        )
        return format_html_join(", ", "{}:{}", rows.values_list("system", "external_id")) or "-"

    @admin.display(description="CPA")
    def cpa(self, obj):
        # The player's CPA line and why it stands where it does (e.g. an FTD in a currency with no
        # FX rate for its date), read through the ledger's relation to the player (commissions
        # sits above players, so no import).
        row = (
            obj.commission_entries.filter(kind="cpa")
            .values_list("status", "amount", "currency", "status_reason")
            .first()
        )
        if row is None:
            return "-"
        status, amount, currency, reason = row
        return f"{status}: {amount.normalize():f} {currency}" + (f" ({reason})" if reason else "")

    def has_add_permission(self, request):
        return False  # players are created by registration (API or inbound events)

    def has_change_permission(self, request, obj=None):
        return (
            False  # every field is a recorded fact: a page to read ("View player"), no Save button
        )

    def has_delete_permission(self, request, obj=None):
        return False


from apps.players import admin_facts, story_panels  # noqa: E402,F401
