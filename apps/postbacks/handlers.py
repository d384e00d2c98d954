"""The pipeline steps of postbacks (declared in apps/pipeline/pipelines.py, each right after the
handler that records what it reacts to, in the same transaction). Each reads what this delivery
recorded (`ctx.recorded(...)`), so a duplicate delivery fires nothing twice."""

from __future__ import annotations

from apps.commissions.models import CommissionEntry
from apps.integrations.inbound.public import EventContext
from apps.players.facts import Deposit
from apps.players.models import Player
from apps.postbacks.services import Event, player_attributed_publish, postback_fire


def player_registered(ctx: EventContext) -> None:
    """player.registered (after the registration handler): a player this delivery created is
    announced, `player.attributed` to subscribers and the registration postback."""
    for player in ctx.recorded(Player):
        player_attributed_publish(player=player)


def first_deposit_postbacks(ctx: EventContext) -> None:
    """deposit.created (after the fact handler recorded it): the first deposit's postback."""
    for deposit in ctx.recorded(Deposit):
        if not deposit.is_first:
            continue
        postback_fire(
            player=deposit.player,
            event=Event.FIRST_DEPOSIT,
            amount=deposit.amount,
            currency=deposit.currency,
        )


def qualified_cpa_postbacks(ctx: EventContext) -> None:
    """After the commission handler of an event that can qualify a CPA (deposit, revenue, KYC):
    the CPA line it booked (`ctx.recorded(CommissionEntry)`) as pending or approved fires the
    affiliate's `qualified_cpa` postback; a CPA booked as suppressed or failed fires nothing."""
    payable = (CommissionEntry.Status.PENDING, CommissionEntry.Status.APPROVED)
    for entry in ctx.recorded(CommissionEntry):
        if entry.kind != CommissionEntry.Kind.CPA or entry.status not in payable:
            continue
        if entry.player is not None and entry.player.affiliate_id == entry.affiliate_id:
            postback_fire(
                player=entry.player,
                event=Event.QUALIFIED_CPA,
                commission=entry.amount,
                currency=entry.currency,
            )
