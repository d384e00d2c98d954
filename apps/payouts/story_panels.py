"""An affiliate's page: its payouts (each linking to its gateway requests from its own page)."""

from __future__ import annotations

from apps.core.display import format_money
from apps.core.story import ROWS, admin_url, link, story_panel, table
from apps.payouts.models import Payout


@story_panel(
    subject="affiliate", key="payouts", title="Payouts", order=50, permission="payouts.view_payout"
)
def affiliate_payouts(affiliate):
    qs = Payout.objects.filter(affiliate=affiliate)
    rows = [
        (
            link("payouts.payout", p.pk, p.reference),
            p.created_at.strftime("%Y-%m-%d"),
            format_money(p.amount, p.currency),
            p.get_status_display(),
            p.failure_reason or "",
        )
        for p in qs.order_by("-created_at", "-pk")[:ROWS]
    ]
    return table(
        ("Payout", "Created", "Amount", "Status", "Gateway's reason"),
        rows,
        total=qs.count(),
        more_url=admin_url("payouts.payout", affiliate__id__exact=affiliate.pk),
        empty="No payouts yet.",
    )
