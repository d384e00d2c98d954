"""Chargebacks, linked to the deposit they reverse when it is known."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction

from apps.players.facts import Chargeback, Deposit
from apps.players.locks import player_lock
from apps.players.models import Player
from apps.players.services.common import (
    FactError,
    checked_amount,
    checked_aware,
    checked_currency,
    checked_required,
    insert_fact,
)

# --- chargebacks ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChargebackResult:
    chargeback: Chargeback
    created: bool


def _chargeback_deposit(*, player: Player, system: str, deposit_external_id: str) -> Deposit | None:
    """The player's recorded deposit with that id: from the same system, else the only one."""
    if not deposit_external_id:
        return None
    candidates = list(
        Deposit.objects.filter(player=player, deposit_id=deposit_external_id).order_by("pk")[:3]
    )
    same_system = [deposit for deposit in candidates if deposit.system == system]
    if same_system:
        return same_system[0]
    return candidates[0] if len(candidates) == 1 else None


def chargeback_record(
    *,
    player: Player,
    system: str,
    chargeback_id: str,
    amount: Decimal,
    currency: str,
    occurred_at: dt.datetime,
    deposit_external_id: str = "",
    reason: str = "",
    source_event_id: int | None,
) -> ChargebackResult:
    """Record a chargeback once per (system, chargeback_id), linked to the player's recorded
    deposit it names. If that deposit is not recorded yet, `deposit_record` links it later."""
    checked_required(system, "system")
    checked_required(chargeback_id, "chargeback_id")
    amount = checked_amount(amount, "amount", positive=True)
    currency = checked_currency(currency)
    checked_aware(occurred_at, "occurred_at")
    deposit_external_id = deposit_external_id or ""
    with transaction.atomic():
        # Same lock as deposit_record, so a deposit and its chargeback arriving together link.
        player_lock(player)
        chargeback, created = insert_fact(
            Chargeback,
            key={"system": system, "chargeback_id": chargeback_id},
            values={
                "player": player,
                "amount": amount,
                "currency": currency,
                "occurred_at": occurred_at,
                "deposit_external_id": deposit_external_id,
                "deposit": _chargeback_deposit(
                    player=player, system=system, deposit_external_id=deposit_external_id
                ),
                "reason": (reason or "")[:500],
                "source_event_id": source_event_id,
            },
        )
        if created:
            return ChargebackResult(chargeback=chargeback, created=True)
        if chargeback.player_id != player.pk:
            raise FactError(f"Chargeback {system}:{chargeback_id} was recorded for another player.")
    return ChargebackResult(chargeback=chargeback, created=False)
