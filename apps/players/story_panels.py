"""Panels for what the players app records. A player's page: identifiers and attribution live in
the form above; here the facts (with totals per currency) and the events that brought them. An
affiliate's page: the players it referred. An event's page: the facts it recorded."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from django.db.models import Sum

from apps.core.display import format_money
from apps.core.story import ROWS, admin_url, link, story_panel, table
from apps.players.facts import Chargeback, Deposit, Purchase, RevenueReport, Trade
from apps.players.models import Player

EVENT = "integrations.inboundevent"


def _totals(rows) -> str:
    """'1,200.00 EUR, 35.00 USD' from (currency, total) pairs."""
    return ", ".join(format_money(total, currency) for currency, total in sorted(rows)) or "—"


@story_panel(key="deposits", title="Deposits", order=10, permission="players.view_deposit")
def deposits(player):
    qs = Deposit.objects.filter(player=player)
    totals = qs.values("currency").annotate(t=Sum("amount")).values_list("currency", "t")
    rows = [
        (
            link("players.deposit", d.pk, d.deposit_id),
            d.occurred_at.strftime("%Y-%m-%d %H:%M"),
            format_money(d.amount, d.currency),
            "first" if d.is_first else "",
            link(EVENT, d.source_event_id, f"#{d.source_event_id}"),
        )
        for d in qs.order_by("-occurred_at")[:ROWS]
    ]
    return table(
        ("Deposit", "At", "Amount", "", "Event"),
        rows,
        total=qs.count(),
        more_url=admin_url("players.deposit", player__id__exact=player.pk),
        footer=("Total", "", _totals(totals), "", ""),
        empty="No deposits.",
    )


@story_panel(
    key="revenue",
    title="Revenue (current daily reports)",
    order=20,
    permission="players.view_revenuereport",
)
def revenue(player):
    qs = RevenueReport.objects.filter(player=player, is_current=True)
    ggr = RevenueReport.ggr_expression()
    totals = qs.values("currency").annotate(t=Sum(ggr)).values_list("currency", "t")
    rows = [
        (
            link("players.revenuereport", r.pk, r.report_id),
            r.date.isoformat(),
            format_money(r.stakes, r.currency),
            format_money(r.winnings, r.currency),
            format_money(r.ggr, r.currency),
            link(EVENT, r.source_event_id, f"#{r.source_event_id}"),
        )
        for r in qs.order_by("-date")[:ROWS]
    ]
    return table(
        ("Report", "Day", "Stakes", "Winnings", "GGR", "Event"),
        rows,
        total=qs.count(),
        more_url=admin_url(
            "players.revenuereport", player__id__exact=player.pk, is_current__exact=1
        ),
        footer=("Total GGR", "", "", "", _totals(totals), ""),
        empty="No revenue reported.",
    )


@story_panel(key="trades", title="Trades", order=30, permission="players.view_trade")
def trades(player):
    qs = Trade.objects.filter(player=player)
    lots = qs.aggregate(lots=Sum("volume_lots"))["lots"] or Decimal(0)
    rows = [
        (
            link("players.trade", t.pk, t.deal_id),
            t.closed_at.strftime("%Y-%m-%d %H:%M"),
            t.symbol,
            t.entry,
            f"{t.volume_lots.normalize():f}",
            format_money(t.profit, t.currency),
            link(EVENT, t.source_event_id, f"#{t.source_event_id}"),
        )
        for t in qs.order_by("-closed_at")[:ROWS]
    ]
    return table(
        ("Deal", "Closed", "Symbol", "Entry", "Lots", "Profit", "Event"),
        rows,
        total=qs.count(),
        more_url=admin_url("players.trade", player__id__exact=player.pk),
        footer=("Total lots", "", "", "", f"{lots.normalize():f}", "", ""),
        empty="No trades.",
    )


@story_panel(key="purchases", title="Purchases", order=40, permission="players.view_purchase")
def purchases(player):
    qs = Purchase.objects.filter(player=player)
    rows = [
        (
            link("players.purchase", p.pk, p.purchase_id),
            p.purchased_at.strftime("%Y-%m-%d %H:%M"),
            p.product,
            format_money(p.amount, p.currency),
            p.get_status_display(),
            link(EVENT, p.source_event_id, f"#{p.source_event_id}"),
        )
        for p in qs.order_by("-purchased_at")[:ROWS]
    ]
    return table(
        ("Purchase", "At", "Product", "Amount", "Status", "Event"),
        rows,
        total=qs.count(),
        more_url=admin_url("players.purchase", player__id__exact=player.pk),
        empty="No purchases.",
    )


@story_panel(key="chargebacks", title="Chargebacks", order=50, permission="players.view_chargeback")
def chargebacks(player):
    qs = Chargeback.objects.filter(player=player).select_related("deposit")
    rows = [
        (
            link("players.chargeback", c.pk, c.chargeback_id),
            c.occurred_at.strftime("%Y-%m-%d %H:%M"),
            format_money(c.amount, c.currency),
            link("players.deposit", c.deposit_id, c.deposit.deposit_id if c.deposit else None),
            c.reason,
            link(EVENT, c.source_event_id, f"#{c.source_event_id}"),
        )
        for c in qs.order_by("-occurred_at")[:ROWS]
    ]
    return table(
        ("Chargeback", "At", "Amount", "Deposit", "Reason", "Event"),
        rows,
        total=qs.count(),
        more_url=admin_url("players.chargeback", player__id__exact=player.pk),
        empty="No chargebacks.",
    )


@story_panel(
    key="events",
    title="Events that made this story",
    order=90,
    permission="integrations.view_inboundevent",
)
def events(player):
    """Every inbound event a fact of this player came from, newest first (ids from the facts)."""
    by_event: dict[int, list[str]] = defaultdict(list)
    for model, label in (
        (Deposit, "deposit"),
        (RevenueReport, "revenue"),
        (Trade, "trade"),
        (Purchase, "purchase"),
        (Chargeback, "chargeback"),
    ):
        for event_id in (
            model.objects.filter(player=player, source_event_id__isnull=False)
            .values_list("source_event_id", flat=True)
            .order_by("-source_event_id")[:ROWS]
        ):
            by_event[event_id].append(label)
    ids = sorted(by_event, reverse=True)
    rows = [
        (link(EVENT, event_id, f"#{event_id}"), ", ".join(sorted(set(by_event[event_id]))))
        for event_id in ids[:ROWS]
    ]
    return table(
        ("Event", "Recorded"),
        rows,
        total=len(ids),
        empty="No events recorded facts for this player.",
    )


# --- an affiliate's page -------------------------------------------------------------------


@story_panel(
    subject="affiliate",
    key="players",
    title="Referred players",
    order=10,
    permission="players.view_player",
)
def affiliate_players(affiliate):
    qs = Player.objects.filter(affiliate=affiliate).select_related("campaign")
    rows = [
        (
            link("players.player", p.pk, f"Player {p.pk}"),
            p.registered_at.strftime("%Y-%m-%d"),
            p.brand,
            p.country,
            link("affiliates.campaign", p.campaign_id, p.campaign) if p.campaign_id else "—",
        )
        for p in qs.order_by("-registered_at", "-pk")[:ROWS]
    ]
    return table(
        ("Player", "Registered", "Brand", "Country", "Campaign"),
        rows,
        total=qs.count(),
        more_url=admin_url("players.player", affiliate__id__exact=affiliate.pk),
        empty="No players referred yet.",
    )


# --- an inbound event's page ----------------------------------------------------------------

FACTS = (
    (Deposit, "players.deposit", "Deposit"),
    (RevenueReport, "players.revenuereport", "Revenue report"),
    (Trade, "players.trade", "Trade"),
    (Purchase, "players.purchase", "Purchase"),
    (Chargeback, "players.chargeback", "Chargeback"),
)


@story_panel(
    subject="event",
    key="facts",
    title="What it recorded",
    order=10,
    permission="players.view_player",
)
def event_facts(event):
    """The facts this event recorded, each with its player (a duplicate delivery records none)."""
    rows = []
    for model, label, name in FACTS:
        for fact in model.objects.filter(source_event_id=event.pk).order_by("pk")[:ROWS]:
            rows.append(
                (
                    link(label, fact.pk, name),
                    link("players.player", fact.player_id, f"Player {fact.player_id}"),
                )
            )
    return table(
        ("Fact", "Player"),
        rows[:ROWS],
        total=len(rows),
        empty="No facts recorded by this event (a registration, KYC or compliance event, "
        "a duplicate, or not processed yet).",
    )
