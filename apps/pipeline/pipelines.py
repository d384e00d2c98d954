"""The pipeline of every inbound event type: which handlers run, in which order.

This is the one place that says what happens to an event. The registry
(apps/integrations/inbound/registry.py) runs exactly these lists, in order, inside one database
transaction per event: every handler's writes commit together, or none do (a handler raising
`ParkEvent`, `RejectEvent` or anything else rolls the whole event back). A handler passes what
it recorded to the ones after it with `ctx.record(obj)`; they read it with `ctx.recorded(Model)`.
A duplicate delivery records nothing, so the reactions after a fact handler act once.

The first handler of a fact event is the fact handler (apps/mappings/handlers.py): it resolves
the player (parks the event when the identifier is unknown) and records the fact. Reactions
(postbacks, commissions, payouts) come after the fact they react to; the risk steps come last, so
the rules see the facts and lines the event recorded and their holds commit with them.

This module sits above every domain app (the top of the layers contract); PipelineConfig.ready()
(apps/pipeline/apps.py) installs it in the registry, which knows no domain app.
"""

from __future__ import annotations

from collections.abc import Iterator

from apps.commissions import handlers as commissions
from apps.integrations.inbound.public import Handler
from apps.mappings import handlers as facts
from apps.payouts import handlers as payouts
from apps.postbacks import handlers as postbacks
from apps.risk import handlers as risk

PIPELINES: dict[str, tuple[Handler, ...]] = {
    "player.registered": (
        # creates the player (ctx.record) or adds identifiers; unparks waiting events; identity
        # values (ctx.record)
        facts.player_registered,
        # recorded new Player -> player.attributed to subscribers + the registration postback
        postbacks.player_registered,
        # recorded new Player / identity values -> registration risk rules (signals, case, holds)
        risk.player_registered,
    ),
    "deposit.created": (
        facts.deposit_created,  # records the Deposit (ctx.record) when this delivery created it
        # recorded first Deposit -> the affiliate's first_deposit postback
        postbacks.first_deposit_postbacks,
        # recorded Deposit -> CPA evaluation; a booked CPA line (ctx.record)
        commissions.deposit_created,
        # recorded pending/approved CPA line -> qualified_cpa postback
        postbacks.qualified_cpa_postbacks,
        # recorded Deposit / identity values -> deposit risk rules; a booked line of a player under
        # review is held
        risk.deposit_created,
    ),
    "revenue.reported": (
        facts.revenue_reported,  # records the RevenueReport (or its restatement)
        # recorded report -> RevShare / restatement of a closed month, CPA wagering (ctx.record)
        commissions.revenue_reported,
        postbacks.qualified_cpa_postbacks,  # recorded CPA line -> qualified_cpa postback
        risk.hold_new_lines,  # a booked line of a player under review (risk case) is held
    ),
    "kyc.updated": (
        facts.kyc_updated,  # records the player's KYC status
        commissions.kyc_updated,  # KYC passed -> CPA evaluation; a booked CPA line (ctx.record)
        postbacks.qualified_cpa_postbacks,  # recorded CPA line -> qualified_cpa postback
        risk.hold_new_lines,  # a booked line of a player under review (risk case) is held
    ),
    "trade.closed": (
        facts.trade_closed,  # records the Trade
        commissions.trade_closed,  # recorded Trade -> lot-rate commission
    ),
    "purchase.created": (
        facts.purchase_created,  # records the Purchase
        commissions.purchase_created,  # recorded Purchase -> commission
    ),
    "purchase.refunded": (
        # records the refund on its Purchase (ctx.record: the refunded purchase)
        facts.purchase_refunded,
        commissions.purchase_refunded,  # refunded Purchase -> reversal line
    ),
    "chargeback.created": (
        facts.chargeback_created,  # records the Chargeback
        commissions.chargeback_created,  # recorded Chargeback -> clawback case
    ),
    "self_exclusion.started": (
        facts.self_exclusion_started,  # records the self-exclusion
        commissions.self_exclusion_started,  # fails the player's pending CPA
    ),
    "self_exclusion.ended": (
        facts.self_exclusion_ended,  # ends the self-exclusion
    ),
    "payout.confirmed": (
        # the gateway paid: the Payout is completed (an unknown or final one: RejectEvent)
        payouts.payout_confirmed,
    ),
    "payout.failed": (
        # the gateway failed it: the Payout is failed, for the failed-payout queue
        payouts.payout_failed,
    ),
}


def column_limits() -> Iterator[tuple[str, str, int, object]]:
    """(event type, data field, max length, key pattern) for every text the handlers store in a
    column: the door refuses longer values with 422 instead of failing in a handler."""
    yield from facts.column_limits()
    yield from payouts.column_limits()
