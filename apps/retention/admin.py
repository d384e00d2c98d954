"""Retention's player list: the retention filters, aggregates per row, saved segments and
minimised exports.

Every sidebar filter drives the same RetentionPlayerFilter the read API uses (one parameter, one
query). The search box finds a player by any identifier (player id, tracking token, CRM id, MT5
login...) or a click's sub-id. Exports leave self-excluded players out unless the list is
filtered to them explicitly (contact suppression).
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from django import forms
from django.contrib import admin, messages
from django.db.models import Q
from django.urls import reverse
from django.utils.html import format_html
from import_export.admin import ExportMixin

from apps.core.admin_mixins import ReadOnlyAdminMixin
from apps.core.display import format_money
from apps.core.filters import (
    FilterError,
    filterset_apply,
    filterset_list_filter,
    filterset_range_filter,
)
from apps.core.roles import FINANCE, RETENTION
from apps.players.models import Deposit, Purchase
from apps.retention import filters, selectors
from apps.retention.models import RetentionPlayer, RetentionSegment
from apps.retention.resources import RetentionPlayerResource, identifiers_annotations

EXPORT_ROLES = (RETENTION, FINANCE)
Filter = filters.RetentionPlayerFilter


def _filterset_list_filter(param: str, title: str, choices):
    """An admin list filter driven by one RetentionPlayerFilter field, the API's own definition."""
    lookups = choices if callable(choices) else (lambda request, model_admin: choices)
    return filterset_list_filter(filterset_class=Filter, name=param, title=title, lookups=lookups)


def _range(low: str, high: str, title: str, kind: str = "date"):
    return filterset_range_filter(
        filterset_class=Filter, low=low, high=high, title=title, kind=kind
    )


def _currencies(request, model_admin):
    return [
        (c, c)
        for c in Deposit.objects.order_by("currency")
        .values_list("currency", flat=True)
        .distinct()[:50]
    ]


def _products(request, model_admin):
    return [
        (p, p)
        for p in Purchase.objects.order_by("product")
        .values_list("product", flat=True)
        .distinct()[:50]
    ]


RETENTION_FILTERS = [
    _range("registered_after", "registered_before", "registration date"),
    _range("first_deposit_after", "first_deposit_before", "first deposit (FTD) date"),
    _range("last_activity_after", "last_activity_before", "last activity date"),
    _range("deposits_min", "deposits_max", "lifetime deposits", kind="number"),
    _range("ngr_min", "ngr_max", "lifetime NGR", kind="number"),
    _filterset_list_filter("origin", "origin", [("referred", "Referred"), ("organic", "Organic")]),
    _filterset_list_filter(
        "kyc",
        "KYC",
        [("passed", "Passed"), ("pending", "Pending"), ("failed", "Failed"), ("none", "No KYC")],
    ),
    _filterset_list_filter("excluded", "self-excluded now", [("true", "Yes"), ("false", "No")]),
    _filterset_list_filter(
        "dormant_days",
        "dormant (no deposit for)",
        [("30", "30+ days"), ("60", "60+ days"), ("90", "90+ days"), ("180", "180+ days")],
    ),
    _filterset_list_filter("currency", "currency", _currencies),
    _filterset_list_filter("product", "product bought", _products),
    _filterset_list_filter(
        "deposits_band", "lifetime deposits band", [(k, k) for k in filters.DEPOSIT_BANDS]
    ),
    _filterset_list_filter("ngr_band", "NGR band", [(k, k) for k in filters.NGR_BANDS]),
]


@admin.register(RetentionPlayer)
class RetentionPlayerAdmin(ReadOnlyAdminMixin, ExportMixin, admin.ModelAdmin):
    resource_classes = [RetentionPlayerResource]
    change_list_template = "retention/admin/retention_change_list.html"
    list_display = (
        "player_link",
        "crm_id",
        "affiliate",
        "country",
        "registered_on",
        "ftd_on",
        "last_activity_on",
        "deposits",
        "ngr",
        "kyc_status",
        "is_excluded",
    )
    list_filter = (
        *RETENTION_FILTERS,
        ("affiliate", admin.RelatedOnlyFieldListFilter),
        ("campaign", admin.RelatedOnlyFieldListFilter),
        "brand",
        "country",
    )
    search_fields = ("=id",)  # get_search_results widens it to every identifier and the sub-ids
    search_help_text = (
        "Player id, tracking token, any system's id (CRM id, MT5 login…) or a sub-id."
    )
    list_select_related = ("affiliate", "campaign")
    show_full_result_count = False
    list_per_page = 100

    def get_queryset(self, request):
        queryset = selectors.with_retention_figures(super().get_queryset(request))
        return queryset.annotate(**identifiers_annotations())

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        subs = Q(sub1=term) | Q(sub2=term) | Q(sub3=term) | Q(sub4=term) | Q(sub5=term)
        return queryset.filter(filters.identifier_query(term) | subs), False

    def get_export_queryset(self, request):
        """What the list shows, without self-excluded players unless asked for by the filter."""
        queryset = super().get_export_queryset(request)
        if request.GET.get("excluded") != "true":
            queryset = queryset.filter(is_excluded=False)
        return queryset

    def changelist_view(self, request, extra_context=None):
        query = urlencode([(k, v) for k, v in request.GET.items() if k not in ("p", "o", "e")])
        add_url = reverse("admin:retention_retentionsegment_add")
        extra = {
            "segment_add_url": f"{add_url}?{urlencode({'query': query})}" if query else None,
            "segments": RetentionSegment.objects.all()[:20],
        }
        if request.GET.get("excluded") != "true":
            extra["export_note"] = "Exports leave self-excluded players out (contact suppression)."
        return super().changelist_view(request, {**(extra_context or {}), **extra})

    def has_export_permission(self, request):
        user = request.user
        return user.is_active and (
            user.is_superuser or user.groups.filter(name__in=EXPORT_ROLES).exists()
        )

    @admin.display(description="Player", ordering="id")
    def player_link(self, obj):
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:players_player_change", args=[obj.pk]), obj.pk
        )

    @admin.display(description="CRM id")
    def crm_id(self, obj):
        return obj.crm_id or "—"

    @admin.display(description="Registered", ordering="registered_at")
    def registered_on(self, obj):
        return obj.registered_at.date().isoformat()

    @admin.display(description="FTD", ordering="first_deposit_at")
    def ftd_on(self, obj):
        return obj.first_deposit_at.date().isoformat() if obj.first_deposit_at else "—"

    @admin.display(description="Last activity", ordering="last_activity_at")
    def last_activity_on(self, obj):
        return obj.last_activity_at.date().isoformat() if obj.last_activity_at else "—"

    @admin.display(ordering="lifetime_deposits")
    def deposits(self, obj):
        return format_money(obj.lifetime_deposits, obj.currency)

    @admin.display(ordering="ngr", description="NGR")
    def ngr(self, obj):
        return format_money(obj.ngr, obj.currency)

    @admin.display(description="KYC")
    def kyc_status(self, obj):
        return obj.kyc_status or "—"

    @admin.display(boolean=True, description="Excluded")
    def is_excluded(self, obj):
        return obj.is_excluded


class RetentionSegmentForm(forms.ModelForm):
    class Meta:
        model = RetentionSegment
        fields = ("name", "description", "query")

    def clean_query(self):
        query = self.cleaned_data["query"].lstrip("?")
        params = dict(parse_qsl(query, keep_blank_values=True))
        unknown = sorted(
            set(params)
            - set(Filter.base_filters)
            - {
                "q",
                "affiliate__id__exact",
                "campaign__id__exact",
                "brand",
                "country__exact",
                "brand__exact",
            }
        )
        if unknown:
            raise forms.ValidationError(f"Not a retention filter: {', '.join(unknown)}.")
        try:
            filterset_apply(
                Filter,
                data={k: v for k, v in params.items() if k in Filter.base_filters},
                queryset=selectors.with_retention_figures(RetentionPlayer.objects.all()),
            )
        except FilterError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return query


@admin.register(RetentionSegment)
class RetentionSegmentAdmin(admin.ModelAdmin):
    form = RetentionSegmentForm
    list_display = ("name", "run_link", "description", "created_by", "updated_at")
    search_fields = ("name", "description")
    readonly_fields = ("created_by", "created_at", "updated_at")

    def get_changeform_initial_data(self, request):
        return {"query": request.GET.get("query", "")}

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
        messages.info(
            request, format_html('Run it: <a href="{}">{}</a>', self._run_url(obj), obj.name)
        )

    @staticmethod
    def _run_url(obj) -> str:
        return f"{reverse('admin:retention_retentionplayer_changelist')}?{obj.query}"

    @admin.display(description="Run")
    def run_link(self, obj):
        return format_html('<a href="{}">Show players</a>', self._run_url(obj))
