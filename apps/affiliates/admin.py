"""Affiliate management in the admin. Every write goes through apps.affiliates.services."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from apps.affiliates import services
from apps.affiliates.models import Affiliate, Campaign, Click, Creative, TrackingLink
from apps.core.admin_mixins import ReadOnlyAdminMixin
from apps.core.story import StoryAdminMixin


def adopt(obj, created) -> None:
    """Make the admin's unsaved `obj` the row a service created (the admin then logs and
    redirects)."""
    for field in obj._meta.concrete_fields:
        setattr(obj, field.attname, getattr(created, field.attname))
    obj._state.adding = False
    obj._state.db = created._state.db


def run_action(modeladmin, request, queryset, operation, verb: str, **kwargs) -> None:
    """Apply a service to each selected row (in pk order), then report what happened."""
    done, refused = 0, []
    for obj in queryset.order_by("pk"):
        try:
            operation(**kwargs, acting_user=request.user, **{modeladmin.opts.model_name: obj})
            done += 1
        except services.AffiliateDomainError as exc:
            refused.append(str(exc))
    if done:
        modeladmin.message_user(
            request, f"{verb} {done} {modeladmin.opts.verbose_name_plural}.", messages.SUCCESS
        )
    for reason in refused:
        modeladmin.message_user(request, reason, messages.WARNING)


class AffiliateForm(forms.ModelForm):
    class Meta:
        model = Affiliate
        fields = ("name", "email", "payout_currency", "parent")

    def clean_parent(self):
        parent = self.cleaned_data.get("parent")
        if services.affiliate_parent_would_cycle(affiliate=self.instance, parent=parent):
            raise ValidationError("An affiliate cannot be its own parent or ancestor.")
        return parent


@admin.register(Affiliate)
class AffiliateAdmin(StoryAdminMixin, admin.ModelAdmin):
    story_subject = "affiliate"  # players, plans, ledger, statements, payouts, postbacks below
    form = AffiliateForm
    list_display = ("name", "email", "status", "parent", "payout_currency", "created_at")
    list_filter = ("status", "payout_currency", ("parent", admin.EmptyFieldListFilter))
    search_fields = ("name", "email")
    list_select_related = ("parent",)
    autocomplete_fields = ("parent",)
    readonly_fields = ("status", "created_at", "updated_at")
    fields = ("name", "email", "payout_currency", "parent", "status", "created_at", "updated_at")
    actions = ("suspend_affiliates", "ban_affiliates", "activate_affiliates")

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            services.affiliate_update(
                affiliate=obj,
                name=data["name"],
                email=data["email"],
                payout_currency=data["payout_currency"],
                parent=data["parent"],
                acting_user=request.user,
            )
        else:
            adopt(
                obj,
                services.affiliate_create(
                    name=data["name"],
                    email=data["email"],
                    payout_currency=data["payout_currency"],
                    parent=data["parent"],
                    acting_user=request.user,
                ),
            )

    @admin.action(description="Suspend selected affiliates", permissions=["change"])
    def suspend_affiliates(self, request, queryset):
        run_action(
            self,
            request,
            queryset.filter(status=Affiliate.Status.ACTIVE),
            services.affiliate_suspend,
            "Suspended",
            reason="Suspended in admin",
        )

    @admin.action(
        description="Ban selected affiliates (payout runs hold their balances)",
        permissions=["change"],
    )
    def ban_affiliates(self, request, queryset):
        run_action(
            self,
            request,
            queryset.exclude(status=Affiliate.Status.BANNED),
            services.affiliate_ban,
            "Banned",
            reason="Banned in admin",
        )

    @admin.action(description="Activate selected affiliates", permissions=["change"])
    def activate_affiliates(self, request, queryset):
        run_action(
            self,
            request,
            queryset.exclude(status=Affiliate.Status.ACTIVE),
            services.affiliate_activate,
            "Activated",
            reason="Activated in admin",
        )


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ("name", "affiliate", "brand", "created_at")
    list_filter = ("brand",)
    search_fields = ("name", "affiliate__name", "brand")
    list_select_related = ("affiliate",)
    autocomplete_fields = ("affiliate",)

    def get_readonly_fields(self, request, obj=None):
        return ("affiliate", "brand", "created_at") if obj else ()

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if change:
            services.campaign_rename(
                campaign=obj, name=form.cleaned_data["name"], acting_user=request.user
            )
        else:
            data = form.cleaned_data
            adopt(
                obj,
                services.campaign_create(
                    affiliate=data["affiliate"],
                    name=data["name"],
                    brand=data["brand"],
                    acting_user=request.user,
                ),
            )


@admin.register(Creative)
class CreativeAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "campaign",
        "affiliate_name",
        "brand",
        "status",
        "reviewed_by",
        "reviewed_at",
    )
    list_filter = ("status", "campaign__brand", "reviewed_at")
    search_fields = ("name", "campaign__name", "campaign__affiliate__name")
    list_select_related = ("campaign__affiliate", "reviewed_by")
    autocomplete_fields = ("campaign",)
    actions = ("approve_creatives", "reject_creatives")

    @admin.display(description="Affiliate", ordering="campaign__affiliate__name")
    def affiliate_name(self, obj):
        return obj.campaign.affiliate.name

    @admin.display(description="Brand", ordering="campaign__brand")
    def brand(self, obj):
        return obj.campaign.brand

    def get_readonly_fields(self, request, obj=None):
        review = ("status", "reviewed_by", "reviewed_at", "review_note", "created_at")
        return ("campaign", *review) if obj else review

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if change:
            services.creative_rename(
                creative=obj, name=form.cleaned_data["name"], acting_user=request.user
            )
        else:
            adopt(
                obj,
                services.creative_create(
                    campaign=form.cleaned_data["campaign"],
                    name=form.cleaned_data["name"],
                    acting_user=request.user,
                ),
            )

    @admin.action(description="Approve selected creatives", permissions=["change"])
    def approve_creatives(self, request, queryset):
        run_action(
            self, request, queryset, services.creative_approve, "Approved", note="Approved in admin"
        )

    @admin.action(description="Reject selected creatives", permissions=["change"])
    def reject_creatives(self, request, queryset):
        run_action(
            self,
            request,
            queryset,
            services.creative_reject,
            "Rejected",
            reason="Rejected in admin",
        )


class TrackingLinkForm(forms.ModelForm):
    landing_url = forms.URLField(max_length=2000, assume_scheme="https")

    class Meta:
        model = TrackingLink
        fields = ("affiliate", "campaign", "creative", "landing_url")

    def clean(self):
        data = super().clean()
        if all(data.get(k) for k in ("affiliate", "campaign", "creative")):
            try:
                services.tracking_link_check(
                    affiliate=data["affiliate"],
                    campaign=data["campaign"],
                    creative=data["creative"],
                )
            except services.TrackingLinkRefused as exc:
                raise ValidationError(str(exc)) from exc
        return data


@admin.register(TrackingLink)
class TrackingLinkAdmin(admin.ModelAdmin):
    form = TrackingLinkForm
    list_display = ("code", "affiliate", "campaign", "creative", "is_active", "created_at")
    list_filter = ("is_active", "campaign__brand", "created_at")
    search_fields = ("=code", "affiliate__name", "campaign__name", "landing_url")
    list_select_related = ("affiliate", "campaign", "creative")
    autocomplete_fields = ("affiliate", "campaign", "creative")
    actions = ("deactivate_links",)

    def get_readonly_fields(self, request, obj=None):
        # Links are immutable once published; deactivate one and create another instead.
        if obj:
            return (
                "code",
                "affiliate",
                "campaign",
                "creative",
                "landing_url",
                "is_active",
                "created_at",
            )
        return ()

    def get_fields(self, request, obj=None):
        if obj:
            return (
                "code",
                "affiliate",
                "campaign",
                "creative",
                "landing_url",
                "is_active",
                "created_at",
            )
        return ("affiliate", "campaign", "creative", "landing_url")

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if change:
            return  # nothing is editable
        data = form.cleaned_data
        adopt(
            obj,
            services.tracking_link_create(
                affiliate=data["affiliate"],
                campaign=data["campaign"],
                creative=data["creative"],
                landing_url=data["landing_url"],
                acting_user=request.user,
            ),
        )

    @admin.action(description="Deactivate selected links", permissions=["change"])
    def deactivate_links(self, request, queryset):
        queryset = queryset.filter(is_active=True)
        done = 0
        for link in queryset.order_by("pk"):
            services.tracking_link_deactivate(
                link=link, acting_user=request.user, reason="Deactivated in admin"
            )
            done += 1
        self.message_user(request, f"Deactivated {done} tracking link(s).", messages.SUCCESS)


@admin.register(Click)
class ClickAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "link", "affiliate_name", "sub1", "sub2", "sub3", "short_ip_hash")
    list_filter = (("created_at", admin.DateFieldListFilter),)
    search_fields = ("=token", "=link__code", "sub1")
    list_select_related = ("link__affiliate",)
    date_hierarchy = "created_at"
    show_full_result_count = False
    readonly_fields = (
        "link",
        "token",
        "sub1",
        "sub2",
        "sub3",
        "sub4",
        "sub5",
        "ip_hash",
        "user_agent",
        "created_at",
    )

    @admin.display(description="Affiliate")
    def affiliate_name(self, obj):
        return obj.link.affiliate.name

    @admin.display(description="IP hash")
    def short_ip_hash(self, obj):
        return obj.ip_hash[:12]


from apps.affiliates import (  # noqa: E402  (register the admin and panels below)
    postbacks_admin,  # noqa: F401  (affiliate postback templates)
    story_panels,  # noqa: F401  (the affiliate page's panels)
)
