"""The player page's ledger panels: every commission line this player earned (or had suppressed,
with the reason) and the clawback cases their chargebacks opened."""

from __future__ import annotations

from django.db.models import Q, Sum

from apps.commissions.models import ClawbackCase, CommissionEntry
from apps.core.display import format_money
from apps.players.story import ROWS, admin_url, link, story_panel, table

EVENT = "integrations.inboundevent"


@story_panel(
    key="ledger", title="Commission lines", order=60, permission="commissions.view_commissionentry"
)
def ledger(player):
    qs = CommissionEntry.objects.filter(player=player).select_related("affiliate")
    earned = (
        qs.exclude(status__in=["suppressed", "failed", "cancelled"])
        .values("currency")
        .annotate(t=Sum("amount"))
        .values_list("currency", "t")
    )
    rows = [
        (
            link("commissions.commissionentry", e.pk, e.get_kind_display()),
            link("affiliates.affiliate", e.affiliate_id, e.affiliate),
            e.period.strftime("%Y-%m"),
            format_money(e.amount, e.currency),
            e.get_status_display(),
            e.status_reason or "",
            link(EVENT, e.source_event_id, f"#{e.source_event_id}") if e.source_event_id else "—",
        )
        for e in qs.order_by("-occurred_at", "-pk")[:ROWS]
    ]
    total = ", ".join(format_money(t, c) for c, t in sorted(earned)) or "—"
    return table(
        ("Line", "Affiliate", "Period", "Amount", "Status", "Reason", "Event"),
        rows,
        total=qs.count(),
        more_url=admin_url("commissions.commissionentry", player__id__exact=player.pk),
        footer=("Total (not suppressed)", "", "", total, "", "", ""),
        empty="No commission lines.",
    )


@story_panel(
    key="clawbacks", title="Clawback cases", order=70, permission="commissions.view_clawbackcase"
)
def clawbacks(player):
    qs = ClawbackCase.objects.filter(Q(player=player))
    rows = [
        (
            link("commissions.clawbackcase", c.pk, f"Case {c.pk}"),
            c.chargeback_reference or "—",
            c.chargeback_at.strftime("%Y-%m-%d"),
            c.get_status_display(),
            link(EVENT, c.chargeback_event_id, f"#{c.chargeback_event_id}"),
        )
        for c in qs.order_by("-chargeback_at")[:ROWS]
    ]
    return table(
        ("Case", "Chargeback", "At", "Status", "Event"),
        rows,
        total=qs.count(),
        more_url=admin_url("commissions.clawbackcase", player__id__exact=player.pk),
        empty="No clawback cases.",
    )
