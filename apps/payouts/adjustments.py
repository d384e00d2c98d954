"""Manual adjustments: a credit or debit Finance books by hand, under dual control.

Requested with a reason code, a note and the period it belongs to; it reaches the ledger only
when a second Finance user approves it, as one approved `adjustment` ledger line (its own
"Manual adjustment" line on the period's statement, and in the read API's commissions). A
closed period is never reopened: the line is booked in the first open period after it.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from apps.affiliates.models import Affiliate
from apps.commissions import periods
from apps.commissions.models import CommissionEntry
from apps.commissions.services import Line, entry_book
from apps.core.audit import audit_record, snapshot
from apps.core.money import round_money
from apps.payouts.models import ManualAdjustment
from apps.payouts.services import PayoutError

APPROVE_PERMISSION = "payouts.approve_manualadjustment"
_AUDITED = [
    "affiliate",
    "amount",
    "currency",
    "reason_code",
    "note",
    "period",
    "status",
    "decided_by",
    "entry",
]


class ManualAdjustmentRefused(PayoutError):
    """A manual adjustment, or its decision, was refused."""


def manual_adjustment_request(
    *,
    affiliate: Affiliate,
    amount: Decimal,
    currency: str,
    reason_code: str,
    note: str,
    period: dt.date,
    acting_user,
) -> ManualAdjustment:
    """Finance proposes a credit (amount > 0) or debit (amount < 0); nothing is booked yet."""
    if acting_user is None or not acting_user.has_perm("payouts.add_manualadjustment"):
        raise ManualAdjustmentRefused("Booking a manual adjustment needs the Finance permission.")
    if not isinstance(amount, Decimal):
        raise ManualAdjustmentRefused(f"Amounts are Decimal, got {type(amount).__name__}.")
    currency = (currency or "").upper()
    if round_money(amount, currency) == 0:
        raise ManualAdjustmentRefused("An adjustment needs a non-zero amount.")
    if reason_code not in ManualAdjustment.ReasonCode.values:
        raise ManualAdjustmentRefused(f"Unknown reason code {reason_code!r}.")
    if not (note or "").strip():
        raise ManualAdjustmentRefused("An adjustment needs a note explaining it.")
    with transaction.atomic():
        adjustment = ManualAdjustment.objects.create(
            affiliate=affiliate,
            amount=round_money(amount, currency),
            currency=currency,
            reason_code=reason_code,
            note=note.strip(),
            period=period.replace(day=1),
            requested_by=acting_user,
        )
        audit_record(
            action="manual_adjustment.requested",
            instance=adjustment,
            actor=acting_user,
            after=snapshot(adjustment, _AUDITED),
        )
    return adjustment


def can_decide(adjustment: ManualAdjustment, acting_user) -> None:
    if adjustment.status != ManualAdjustment.Status.PENDING:
        raise ManualAdjustmentRefused(
            f"Adjustment #{adjustment.pk} was already {adjustment.status}."
        )
    if acting_user is None or not acting_user.has_perm(APPROVE_PERMISSION):
        raise ManualAdjustmentRefused(
            "Deciding a manual adjustment needs the Finance permission to approve them."
        )
    if adjustment.requested_by_id == acting_user.pk:
        raise ManualAdjustmentRefused(
            f"You requested adjustment #{adjustment.pk}; another Finance user must decide it."
        )


def manual_adjustment_approve(*, adjustment: ManualAdjustment, acting_user) -> ManualAdjustment:
    """A second Finance user approves: one approved ledger line is booked (once) in the period,
    or the first open one after it."""
    with transaction.atomic():
        locked = (
            ManualAdjustment.objects.select_for_update()
            .select_related("affiliate", "requested_by")
            .get(pk=adjustment.pk)
        )
        can_decide(locked, acting_user)
        before = snapshot(locked, _AUDITED)
        now = timezone.now()
        occurred_at = periods.period_bounds(locked.period)[0]
        entry, _ = entry_book(
            line=Line(
                kind=CommissionEntry.Kind.ADJUSTMENT,
                affiliate=locked.affiliate,
                amount=locked.amount,
                currency=locked.currency,
                occurred_at=occurred_at,
                status=CommissionEntry.Status.APPROVED,
                status_reason=f"Manual adjustment #{locked.pk} "
                f"({locked.get_reason_code_display()})",
                detail={
                    "manual_adjustment": locked.pk,
                    "reason_code": locked.reason_code,
                    "note": locked.note,
                    "period": locked.period.isoformat(),
                    "requested_by": locked.requested_by.get_username(),
                    "approved_by": acting_user.get_username(),
                },
            ),
            idempotency_key=f"manual-adjustment:{locked.pk}",
        )
        locked.status, locked.decided_by, locked.decided_at, locked.entry = (
            ManualAdjustment.Status.APPROVED,
            acting_user,
            now,
            entry,
        )
        locked.save(update_fields=["status", "decided_by", "decided_at", "entry"])
        audit_record(
            action="manual_adjustment.approved",
            instance=locked,
            actor=acting_user,
            before=before,
            after=snapshot(locked, _AUDITED) | {"booked_period": entry.period.isoformat()},
        )
    return locked


def manual_adjustment_reject(
    *, adjustment: ManualAdjustment, acting_user, reason: str
) -> ManualAdjustment:
    if not (reason or "").strip():
        raise ManualAdjustmentRefused("Rejecting an adjustment needs a reason.")
    with transaction.atomic():
        locked = ManualAdjustment.objects.select_for_update().get(pk=adjustment.pk)
        can_decide(locked, acting_user)
        before = snapshot(locked, _AUDITED)
        locked.status, locked.decided_by, locked.decided_at = (
            ManualAdjustment.Status.REJECTED,
            acting_user,
            timezone.now(),
        )
        locked.decision_reason = reason.strip()
        locked.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
        audit_record(
            action="manual_adjustment.rejected",
            instance=locked,
            actor=acting_user,
            before=before,
            after=snapshot(locked, _AUDITED),
            reason=reason,
        )
    return locked
