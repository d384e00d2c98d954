"""Qualified-CPA postbacks: the commission ledger's part of affiliate postbacks.

Runs after the commission handlers (apps/pipeline/pipelines.py), so in the same transaction
as the event that qualified the CPA, it finds the CPA line booked from that event (passed on by
the commission handler, `ctx.recorded(CommissionEntry)`) and queues
the affiliate's `qualified_cpa` postback through apps.mappings.postbacks (which checks
self-exclusion and fires at most once per player). A CPA booked as suppressed or failed fires
nothing.
"""

from __future__ import annotations

from apps.commissions.models import CommissionEntry
from apps.integrations.inbound.public import EventContext
from apps.mappings.postbacks import postback_fire


def qualified_cpa_postbacks(ctx: EventContext) -> None:
    payable = (CommissionEntry.Status.PENDING, CommissionEntry.Status.APPROVED)
    for entry in ctx.recorded(CommissionEntry):
        if entry.kind != CommissionEntry.Kind.CPA or entry.status not in payable:
            continue
        if entry.player is not None and entry.player.affiliate_id == entry.affiliate_id:
            postback_fire(
                player=entry.player,
                event="qualified_cpa",
                commission=entry.amount,
                currency=entry.currency,
            )
