"""An affiliate's page: its sub-affiliates and the postback templates that send it conversions."""

from __future__ import annotations

from apps.affiliates.models import Affiliate
from apps.affiliates.postbacks import PostbackTemplate
from apps.core.story import ROWS, admin_url, link, story_panel, table


@story_panel(
    subject="affiliate",
    key="subs",
    title="Sub-affiliates",
    order=60,
    permission="affiliates.view_affiliate",
)
def sub_affiliates(affiliate):
    qs = Affiliate.objects.filter(parent=affiliate)
    rows = [
        (link("affiliates.affiliate", a.pk, a.name), a.get_status_display())
        for a in qs.order_by("name")[:ROWS]
    ]
    return table(("Sub-affiliate", "Status"), rows, total=qs.count(), empty="None.")


@story_panel(
    subject="affiliate",
    key="postbacks",
    title="Postback templates",
    order=70,
    permission="affiliates.view_postbacktemplate",
)
def postbacks(affiliate):
    qs = PostbackTemplate.objects.filter(affiliate=affiliate).select_related("campaign")
    rows = [
        (
            link("affiliates.postbacktemplate", t.pk, t.get_event_display()),
            t.campaign or "all campaigns",
            t.url_template,
            "active" if t.is_active else "off",
        )
        for t in qs.order_by("event", "pk")[:ROWS]
    ]
    return table(
        ("Event", "Campaign", "URL", "State"),
        rows,
        total=qs.count(),
        more_url=admin_url("affiliates.postbacktemplate", affiliate__id__exact=affiliate.pk),
        empty="No postbacks: conversions are not sent to this affiliate's tracker.",
    )
