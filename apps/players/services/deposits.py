"""Deposits, with the player's first-deposit flag kept right whatever the arrival order."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction

from apps.core.audit import audit_record
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

# --- deposits ---------------------------------------------------------------------------------


def _claim_first(
    row,
    *,
    player: Player,
    flag: str,
    time_field: str,
    id_key: str,
    action: str,
    actor_label: str,
    reason: str,
):
    """Give a newly recorded fact the player's "first" flag if it happened before the current
    holder (or there is none). Returns (changed, previous holder). Called with the player locked.

    The old flag is cleared first: one first fact per player is a partial unique index. A move
    (a late fact that happened earlier) is audited.
    """
    model = type(row)
    previous = model.objects.filter(player=player, **{flag: True}).first()
    changed = previous is None or getattr(row, time_field) < getattr(previous, time_field)
    if not changed:
        return False, previous
    if previous is not None:
        model.objects.filter(pk=previous.pk).update(**{flag: False})
        setattr(previous, flag, False)
        audit_record(
            action=action,
            instance=row,
            actor_label=actor_label,
            before={id_key: previous.pk, time_field: getattr(previous, time_field).isoformat()},
            after={id_key: row.pk, time_field: getattr(row, time_field).isoformat()},
            reason=reason,
        )
    model.objects.filter(pk=row.pk).update(**{flag: True})
    setattr(row, flag, True)
    return True, previous


@dataclass(frozen=True)
class DepositResult:
    """`created`: this call stored the deposit. `ftd_changed`: the player's first-time deposit
    is now this deposit (first ever, or earlier than the previous one, `previous_first`)."""

    deposit: Deposit
    created: bool
    ftd_changed: bool
    previous_first: Deposit | None = None


def deposit_record(
    *,
    player: Player,
    system: str,
    deposit_id: str,
    amount: Decimal,
    currency: str,
    occurred_at: dt.datetime,
    source_event_id: int | None,
) -> DepositResult:
    """Record a deposit once per (system, deposit_id) and keep the first-deposit flag right.

    The FTD is the player's deposit with the earliest `occurred_at` (ties: the one recorded
    first). A deposit that arrives late but happened before the current FTD takes the flag over
    and the result says so. Chargebacks that named this deposit before it arrived are linked.
    """
    checked_required(system, "system")
    checked_required(deposit_id, "deposit_id")
    amount = checked_amount(amount, "amount", positive=True)
    currency = checked_currency(currency)
    checked_aware(occurred_at, "occurred_at")
    with transaction.atomic():
        player_lock(player)
        deposit, created = insert_fact(
            Deposit,
            key={"system": system, "deposit_id": deposit_id},
            values={
                "player": player,
                "amount": amount,
                "currency": currency,
                "occurred_at": occurred_at,
                "source_event_id": source_event_id,
            },
        )
        if not created:
            if deposit.player_id != player.pk:
                raise FactError(f"Deposit {system}:{deposit_id} was recorded for another player.")
            return DepositResult(deposit=deposit, created=False, ftd_changed=False)

        ftd_changed, previous = _claim_first(
            deposit,
            player=player,
            flag="is_first",
            time_field="occurred_at",
            id_key="first_deposit_id",
            action="deposit.ftd_moved",
            actor_label=system,
            reason="A deposit that happened earlier arrived late.",
        )

        # A chargeback may have named this deposit before the deposit itself arrived.
        Chargeback.objects.filter(
            player=player, deposit__isnull=True, deposit_external_id=deposit_id
        ).update(deposit=deposit)
    return DepositResult(
        deposit=deposit, created=True, ftd_changed=ftd_changed, previous_first=previous
    )
