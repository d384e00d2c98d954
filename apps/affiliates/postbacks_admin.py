"""Admin of affiliate postback templates (imported at the bottom of apps/affiliates/admin.py).

What was sent, and each attempt, is in the outbound deliveries admin (event type postback.*)."""

import re

from django import forms
from django.contrib import admin

from apps.affiliates.postbacks import POSTBACK_MACROS, PostbackTemplate
from apps.core.admin_audit import AuditedAdminMixin
from apps.core.outbound_policy import url_refusal_message

_BRACES = re.compile(r"\{(\w+)\}")


class PostbackTemplateForm(forms.ModelForm):
    class Meta:
        model = PostbackTemplate
        fields = ("affiliate", "campaign", "event", "url_template", "is_active")

    def clean(self):
        data = super().clean()
        campaign, affiliate = data.get("campaign"), data.get("affiliate")
        if campaign is not None and affiliate is not None and campaign.affiliate_id != affiliate.pk:
            self.add_error("campaign", "This campaign belongs to another affiliate.")
        url = data.get("url_template") or ""
        if url and not url.startswith(("http://", "https://")):
            self.add_error("url_template", "Use an http(s) URL.")
        elif url and (refused := url_refusal_message(url)):
            self.add_error("url_template", refused)
        unknown = set(_BRACES.findall(url)) - set(POSTBACK_MACROS)
        if unknown:
            self.add_error(
                "url_template",
                f"Unknown macros: {', '.join(sorted(unknown))}. Known: "
                f"{', '.join(POSTBACK_MACROS)}.",
            )
        return data


@admin.register(PostbackTemplate)
class PostbackTemplateAdmin(AuditedAdminMixin, admin.ModelAdmin):
    form = PostbackTemplateForm
    list_display = ("affiliate", "campaign", "event", "url_template", "is_active", "updated_at")
    list_filter = ("event", "is_active")
    search_fields = ("affiliate__name", "url_template")
    list_select_related = ("affiliate", "campaign")
    autocomplete_fields = ("affiliate",)
