"""The risk steps of the inbound pipelines (apps/pipeline/pipelines.py): they run right after an
event's handlers, in its transaction, on what those handlers recorded (`ctx.recorded`), so a
duplicate delivery (which records nothing) evaluates nothing twice and the hold is in place
before the event commits, hence before any payout run can see the money."""

from __future__ import annotations

from apps.commissions.models import CommissionEntry
from apps.integrations.inbound.public import EventContext
from apps.players.facts import Deposit
from apps.players.models import Player, PlayerIdentityValue
from apps.risk.services import lines_hold_for_live_cases, rules_evaluate_event


def player_registered(ctx: EventContext) -> None:
    """New player or new identity values -> registration rules (duplicate identity, self-referral,
    click token, geo)."""
    players = ctx.recorded(Player)
    values = ctx.recorded(PlayerIdentityValue)
    if not players and not values:
        return
    player = players[0] if players else values[0].player
    rules_evaluate_event(
        trigger="registration",
        player=player,
        identity_values=values,
        source_event_id=ctx.event_id,
    )


def deposit_created(ctx: EventContext) -> None:
    """New deposit or identity values -> deposit rules (velocity, duplicate identity,
    self-referral); a CPA this deposit booked for a player already in a live case is held."""
    deposits = ctx.recorded(Deposit)
    values = ctx.recorded(PlayerIdentityValue)
    if deposits or values:
        player = deposits[0].player if deposits else values[0].player
        rules_evaluate_event(
            trigger="deposit",
            player=player,
            deposit=deposits[0] if deposits else None,
            identity_values=values,
            source_event_id=ctx.event_id,
        )
    hold_new_lines(ctx)


def hold_new_lines(ctx: EventContext) -> None:
    """Lines this event booked (CPA qualifying on KYC or wagering) join their player's live case's
    holds."""
    lines = ctx.recorded(CommissionEntry)
    if lines:
        lines_hold_for_live_cases(lines)
