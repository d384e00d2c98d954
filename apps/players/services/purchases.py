"""Purchases and their refunds."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction

from apps.core.audit import audit_record
from apps.players.facts import Purchase
from apps.players.locks import player_lock
from apps.players.models import Player
from apps.players.services.common import (
    FactError,
    PurchaseNotFound,
    checked_amount,
    checked_aware,
    checked_currency,
    checked_required,
    insert_fact,
)
from apps.players.services.deposits import _claim_first

# --- purchases --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PurchaseResult:
    """`first_changed`: the player's first purchase is now this one (`previous_first` lost it)."""

    purchase: Purchase
    created: bool
    first_changed: bool
    previous_first: Purchase | None = None


def purchase_record(
    *,
    player: Player,
    system: str,
    purchase_id: str,
    product: str,
    amount: Decimal,
    currency: str,
    purchased_at: dt.datetime,
    source_event_id: int | None,
) -> PurchaseResult:
    """Record a prop-firm purchase once per (system, purchase_id); the hub decides which is the
    player's first purchase (earliest `purchased_at`), moving the flag if an earlier one arrives
    late."""
    checked_required(system, "system")
    checked_required(purchase_id, "purchase_id")
    checked_required(product, "product")
    amount = checked_amount(amount, "amount", non_negative=True)
    currency = checked_currency(currency)
    checked_aware(purchased_at, "purchased_at")
    with transaction.atomic():
        player_lock(player)
        purchase, created = insert_fact(
            Purchase,
            key={"system": system, "purchase_id": purchase_id},
            values={
                "player": player,
                "product": product,
                "amount": amount,
                "currency": currency,
                "purchased_at": purchased_at,
                "source_event_id": source_event_id,
            },
        )
        if not created:
            if purchase.player_id != player.pk:
                raise FactError(f"Purchase {system}:{purchase_id} was recorded for another player.")
            return PurchaseResult(purchase=purchase, created=False, first_changed=False)

        first_changed, previous = _claim_first(
            purchase,
            player=player,
            flag="is_first_purchase",
            time_field="purchased_at",
            id_key="first_purchase_id",
            action="purchase.first_moved",
            actor_label=system,
            reason="A purchase made earlier arrived late.",
        )
    return PurchaseResult(
        purchase=purchase, created=True, first_changed=first_changed, previous_first=previous
    )


@dataclass(frozen=True)
class PurchaseRefundResult:
    """`refunded`: this call marked the purchase refunded (False: it already was)."""

    purchase: Purchase
    refunded: bool


def purchase_refund(
    *,
    player: Player,
    system: str,
    purchase_id: str,
    amount: Decimal,
    currency: str,
    refunded_at: dt.datetime,
    source_event_id: int | None,
) -> PurchaseRefundResult:
    """Mark a recorded purchase refunded (once; a repeated refund changes nothing).

    A refund of a purchase the hub has not recorded raises PurchaseNotFound: the inbound event
    then fails and is retried, by which time the purchase has usually arrived; if it never does,
    the event ends in the dead letters for a person to look at.
    """
    checked_required(system, "system")
    checked_required(purchase_id, "purchase_id")
    amount = checked_amount(amount, "amount", non_negative=True)
    currency = checked_currency(currency)
    checked_aware(refunded_at, "refunded_at")
    with transaction.atomic():
        purchase = (
            Purchase.objects.select_for_update()
            .filter(system=system, purchase_id=purchase_id)
            .first()
        )
        if purchase is None:
            raise PurchaseNotFound(
                f"Refund of unknown purchase {system}:{purchase_id}; it has not been recorded."
            )
        if purchase.player_id != player.pk:
            raise FactError(
                f"Purchase {system}:{purchase_id} belongs to another player than the refund names."
            )
        if purchase.is_refunded:
            return PurchaseRefundResult(purchase=purchase, refunded=False)
        if currency != purchase.currency:
            raise FactError(
                f"Refund in {currency} of purchase {system}:{purchase_id} made in "
                f"{purchase.currency}."
            )
        if amount > purchase.amount:
            raise FactError(
                f"Refund of {amount} exceeds purchase {system}:{purchase_id} of {purchase.amount}."
            )
        purchase.status = Purchase.Status.REFUNDED
        purchase.refunded_at = refunded_at
        purchase.refund_amount = amount
        purchase.refund_source_event_id = source_event_id
        purchase.save(
            update_fields=["status", "refunded_at", "refund_amount", "refund_source_event_id"]
        )
        audit_record(
            action="purchase.refunded",
            instance=purchase,
            actor_label=system,
            before={"status": Purchase.Status.PURCHASED},
            after={
                "status": Purchase.Status.REFUNDED,
                "refund_amount": str(amount),
                "refunded_at": refunded_at.isoformat(),
            },
        )
    return PurchaseRefundResult(purchase=purchase, refunded=True)
