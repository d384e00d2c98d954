"""Commission reactions to inbound events. Thin: find what the event recorded, call a service.

Declared in apps/pipeline/pipelines.py, each after the fact handler of its event, so it runs in
the same transaction, after the fact exists, and finds it in `ctx.recorded(...)`. A duplicate
delivery records no new fact, so these find nothing and book nothing; the ledger's unique keys
are the second line of defence. A CPA line booked here is passed on (`ctx.record`) to the
qualified-CPA postback (apps/postbacks/handlers.py).
"""

from __future__ import annotations

from apps.commissions import services
from apps.commissions.models import CommissionEntry
from apps.integrations.inbound.public import EventContext
from apps.mappings.models import IdentifierMapping
from apps.players.facts import Chargeback, Deposit, Purchase, RevenueReport, Trade
from apps.players.models import Player


def _mapped_player(ctx: EventContext) -> Player | None:
    # The fact handler already resolved (or parked) this identifier in the same transaction.
    mapping = (
        IdentifierMapping.objects.select_related("player__affiliate")
        .filter(system=ctx.id_system, external_id=ctx.data["player_id"], retired_at__isnull=True)
        .first()
    )
    return mapping.player if mapping else None


def deposit_created(ctx: EventContext) -> None:
    for deposit in ctx.recorded(Deposit):
        _record(ctx, services.cpa_evaluate(player=deposit.player, source_event_id=ctx.event_id))


def _record(ctx: EventContext, entry: CommissionEntry | None) -> None:
    """Pass a CPA line booked from this event on to the postback reaction registered after us."""
    if entry is not None:
        ctx.record(entry)


def kyc_updated(ctx: EventContext) -> None:
    player = _mapped_player(ctx)
    if player is not None and ctx.data["status"] == "passed":
        _record(ctx, services.cpa_evaluate(player=player, source_event_id=ctx.event_id))


def revenue_reported(ctx: EventContext) -> None:
    for report in ctx.recorded(RevenueReport):
        _record(ctx, services.revenue_accrue(report=report, source_event_id=ctx.event_id))


def trade_closed(ctx: EventContext) -> None:
    for trade in ctx.recorded(Trade):
        services.trade_accrue(trade=trade, source_event_id=ctx.event_id)


def purchase_created(ctx: EventContext) -> None:
    for purchase in ctx.recorded(Purchase):
        services.purchase_accrue(purchase=purchase, source_event_id=ctx.event_id)


def purchase_refunded(ctx: EventContext) -> None:
    for purchase in ctx.recorded(Purchase):  # the purchase this event refunded
        services.purchase_refund_accrue(purchase=purchase, source_event_id=ctx.event_id)


def self_exclusion_started(ctx: EventContext) -> None:
    player = _mapped_player(ctx)
    if player is not None:
        services.player_accruals_on_exclusion(
            player=player,
            starts_at=ctx.data["starts_at"],
            ends_at=ctx.data.get("ends_at"),
            source_event_id=ctx.event_id,
        )


def chargeback_created(ctx: EventContext) -> None:
    for chargeback in ctx.recorded(Chargeback):
        services.clawback_case_open(chargeback=chargeback, source_event_id=ctx.event_id)
