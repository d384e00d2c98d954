"""Prop-firm purchase accrual: the prop fee on a player's first purchase, re-checked when an earlier
purchase arrives late, and reversed on refund."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import transaction

from apps.commissions.calculators import percent_of
from apps.commissions.models import CommissionEntry, Plan
from apps.commissions.services.booking import book_with_overrides, gate_line, reverse_with_overrides
from apps.commissions.services.ledger import (
    Kind,
    Line,
    Status,
    commission_entries_set_status,
    plan_for,
)
from apps.compliance.gates import GatePurpose
from apps.players.facts import Purchase
from apps.players.locks import player_lock
from apps.players.models import Player

# --- prop-firm purchases -------------------------------------------------------------------------


def purchase_accrue(*, purchase: Purchase, source_event_id: int) -> CommissionEntry | None:
    """The prop fee on a challenge purchase: pending until the refund window has passed.

    A purchase made earlier that arrives late takes the first-purchase flag over: the fee booked
    on the purchase that was first until then is re-checked (`_prop_fee_recheck`) before the new
    first purchase earns its own.
    """
    player = purchase.player
    if player.affiliate_id is None:
        return None
    with transaction.atomic():
        if purchase.is_first_purchase:
            player_lock(player)
            _prop_fee_recheck(player=player, first=purchase, source_event_id=source_event_id)
        plan = plan_for(
            affiliate_id=player.affiliate_id, brand=player.brand, at=purchase.purchased_at
        )
        if plan is None or plan.kind != Plan.Kind.PROP_FEE:
            return None
        if plan.prop_first_purchase_only and not purchase.is_first_purchase:
            return None
        line = Line(
            kind=Kind.PROP_FEE,
            affiliate=player.affiliate,
            player=player,
            plan=plan,
            amount=percent_of(purchase.amount, plan.prop_fee_percent),
            currency=purchase.currency,
            occurred_at=purchase.purchased_at,
            status=Status.PENDING,
            quantity=purchase.amount,
            rate=plan.prop_fee_percent,
            approve_after=purchase.purchased_at + dt.timedelta(days=plan.prop_refund_window_days),
            detail={
                "purchase": f"{purchase.system}:{purchase.purchase_id}",
                "product": purchase.product,
            },
        )
        gate_line(line, player=player, purpose=GatePurpose.PROP_FEE)
        return book_with_overrides(line=line, player=player, source_event_id=source_event_id)


def _prop_fee_recheck(
    *, player: Player, first: Purchase, source_event_id: int
) -> list[CommissionEntry]:
    """Fees of first-purchase-only plans booked on another purchase than the player's first one.

    It happens when a purchase made earlier arrives late (mirrors `cpa_recheck` for a late
    first deposit). A pending fee fails (with its overrides); an approved or paid one is
    reversed by negative lines in the open period, referencing it (its statement is immutable).
    """
    stale = list(
        CommissionEntry.objects.filter(
            player=player,
            kind=Kind.PROP_FEE,
            plan__prop_first_purchase_only=True,
            status__in=[Status.PENDING, Status.APPROVED, Status.PAID],
        )
        .exclude(source_event_id=first.source_event_id)
        .order_by("pk")
    )
    reason = (
        f"No longer the player's first purchase: {first.system}:{first.purchase_id}, made "
        f"{first.purchased_at.isoformat()}, arrived late"
    )
    moved: list[CommissionEntry] = []
    pending = [fee for fee in stale if fee.status == Status.PENDING]
    if pending:
        moved += commission_entries_set_status(
            entries=pending, to_status=Status.FAILED, actor_label="prop fee re-check", reason=reason
        )
    for fee in stale:
        if fee.status in (Status.APPROVED, Status.PAID):
            moved += reverse_with_overrides(
                fee,
                share=Decimal(1),
                occurred_at=first.purchased_at,
                key=f"first_moved:{source_event_id}",
                detail={"reason": reason},
            )
    return moved


def purchase_refund_accrue(*, purchase: Purchase, source_event_id: int) -> list[CommissionEntry]:
    """A refund inside the refund window cancels the pending fee (and its overrides); after
    approval it books negative lines (proportional to the refund) that reverse them."""
    if purchase.source_event_id is None:
        return []
    fee = CommissionEntry.objects.filter(
        source_event_id=purchase.source_event_id, kind=Kind.PROP_FEE, player=purchase.player
    ).first()
    if fee is None:
        return []
    with transaction.atomic():
        fee = CommissionEntry.objects.select_for_update().get(pk=fee.pk)
        if fee.status == Status.PENDING:
            return commission_entries_set_status(
                entries=[fee],
                to_status=Status.CANCELLED,
                actor_label="purchase.refunded",
                reason=(
                    f"Purchase refunded at {purchase.refunded_at.isoformat()}, "
                    "inside the refund window"
                ),
            )
        if fee.status not in (Status.APPROVED, Status.PAID):
            return []
        share = (
            (purchase.refund_amount if purchase.refund_amount is not None else purchase.amount)
            / purchase.amount
            if purchase.amount
            else Decimal(1)
        )
        return reverse_with_overrides(
            fee,
            share=share,
            occurred_at=purchase.refunded_at,
            key=f"refund:{source_event_id}",
            detail={"refund_of": fee.pk, "share": str(share)},
        )
