"""Ledger panels: on a player's page every commission line they earned (or had suppressed, with
the reason) and the clawback cases their chargebacks opened; on an affiliate's page its plans,
its ledger by status and its statements; on an event's page the lines it booked."""

from __future__ import annotations

from django.db.models import Count, Q, Sum
from django.utils.html import format_html

from apps.commissions.models import ClawbackCase, CommissionEntry, Statement
from apps.core.display import format_money
from apps.core.story import ROWS, admin_url, link, story_panel, table

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


# --- an affiliate's page -------------------------------------------------------------------


@story_panel(
    subject="affiliate",
    key="plans",
    title="Plans",
    order=20,
    permission="commissions.view_planassignment",
)
def affiliate_plans(affiliate):
    qs = affiliate.plan_assignments.select_related("plan")
    rows = [
        (
            link("commissions.planassignment", a.pk, a.brand),
            link("commissions.plan", a.plan_id, f"{a.plan.name} (version {a.plan.version})"),
            a.plan.get_kind_display(),
            a.valid_from.isoformat(),
            a.valid_to.isoformat() if a.valid_to else "open",
        )
        for a in qs.order_by("-valid_from", "brand")[:ROWS]
    ]
    return table(
        ("Brand", "Plan", "Kind", "From", "To"),
        rows,
        total=qs.count(),
        more_url=admin_url("commissions.planassignment", affiliate__id__exact=affiliate.pk),
        empty="No plan assigned: nothing accrues for this affiliate.",
    )


@story_panel(
    subject="affiliate",
    key="balance",
    title="Ledger by status",
    order=30,
    permission="commissions.view_commissionentry",
)
def affiliate_balance(affiliate):
    sums = (
        CommissionEntry.objects.filter(affiliate=affiliate)
        .values("status", "currency")
        .annotate(t=Sum("amount"), n=Count("id"))
        .order_by("status", "currency")
    )
    labels = dict(CommissionEntry.Status.choices)
    rows = [
        (
            format_html(
                '<a href="{}">{}</a>',
                admin_url(
                    "commissions.commissionentry",
                    affiliate__id__exact=affiliate.pk,
                    status__exact=s["status"],
                ),
                labels.get(s["status"], s["status"]),
            ),
            format_money(s["t"], s["currency"]),
            s["n"],
        )
        for s in sums
    ]
    return table(("Status", "Amount", "Lines"), rows, total=len(rows), empty="No ledger lines.")


@story_panel(
    subject="affiliate",
    key="statements",
    title="Statements",
    order=40,
    permission="commissions.view_statement",
)
def affiliate_statements(affiliate):
    qs = Statement.objects.filter(affiliate=affiliate)
    rows = [
        (
            link("commissions.statement", s.pk, s.period.strftime("%Y-%m")),
            format_money(s.total, s.currency),
            s.get_status_display(),
            s.approved_at.strftime("%Y-%m-%d") if s.approved_at else "—",
        )
        for s in qs.order_by("-period", "currency")[:ROWS]
    ]
    return table(
        ("Period", "Total", "Status", "Approved"),
        rows,
        total=qs.count(),
        more_url=admin_url("commissions.statement", affiliate__id__exact=affiliate.pk),
        empty="No statements yet.",
    )


# --- an inbound event's page ----------------------------------------------------------------


@story_panel(
    subject="event",
    key="ledger",
    title="Commission lines it booked",
    order=60,
    permission="commissions.view_commissionentry",
)
def event_ledger(event):
    qs = CommissionEntry.objects.filter(source_event_id=event.pk).select_related("affiliate")
    rows = [
        (
            link("commissions.commissionentry", e.pk, e.get_kind_display()),
            link("affiliates.affiliate", e.affiliate_id, e.affiliate),
            link("players.player", e.player_id, f"Player {e.player_id}") if e.player_id else "—",
            format_money(e.amount, e.currency),
            e.get_status_display(),
            e.status_reason or "",
        )
        for e in qs.order_by("pk")[:ROWS]
    ]
    return table(
        ("Line", "Affiliate", "Player", "Amount", "Status", "Reason"),
        rows,
        total=qs.count(),
        more_url=admin_url("commissions.commissionentry", source_event_id=event.pk),
        empty="No commission lines came from this event.",
    )
