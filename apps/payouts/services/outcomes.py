"""Transitions driven by the gateway (inbound webhooks) and by the outbound engine: submitted,
completed (the carried ledger lines become paid), failed."""

from __future__ import annotations

import datetime as dt
import logging

from django.db import transaction
from django.utils import timezone

from apps.commissions.models import CommissionEntry
from apps.commissions.services import commission_entries_set_status
from apps.core.audit import snapshot
from apps.payouts.models import (
    Payout,
    PayoutAllocation,
)
from apps.payouts.services.common import (
    _AUDITED,
    S,
    _audit,
    _lock_by_reference,
    _save,
)
from apps.payouts.services.gateway import (
    _publish,
)
from apps.payouts.services.guards import (
    can_mark_completed,
    can_mark_failed,
)

logger = logging.getLogger(__name__)


def payout_mark_submitted(*, reference: str, actor_label: str = "payment gateway") -> bool:
    """The gateway accepted our request (2xx): approved -> submitted. A payout that already moved
    on (confirmed or failed by a webhook that overtook our own record) is left alone."""
    with transaction.atomic():
        locked = _lock_by_reference(reference)
        if locked.status != S.APPROVED:
            return False
        before = snapshot(locked, _AUDITED)
        locked.status, locked.submitted_at = S.SUBMITTED, timezone.now()
        _save(locked, "status", "submitted_at")
        _audit(locked, "submitted", before, actor_label=actor_label)
    return True


def payout_mark_completed(
    *, reference: str, gateway_reference: str = "", actor_label: str = "payment gateway"
) -> bool:
    """The gateway paid it: -> completed, the carried ledger lines become paid, subscribers
    hear `payout.completed`. Idempotent: a duplicate confirmation changes nothing (False)."""
    with transaction.atomic():
        locked = _lock_by_reference(reference)
        if locked.status == S.COMPLETED:
            return False
        can_mark_completed(locked)
        before = snapshot(locked, _AUDITED)
        now = timezone.now()
        locked.status, locked.completed_at = S.COMPLETED, now
        locked.gateway_reference = gateway_reference or locked.gateway_reference
        locked.failure_code, locked.failure_reason = "", ""
        _save(
            locked, "status", "completed_at", "gateway_reference", "failure_code", "failure_reason"
        )
        paid_lines = _mark_ledger_paid(locked, now, actor_label)
        _audit(
            locked, "completed", before | {"ledger_lines_paid": paid_lines}, actor_label=actor_label
        )
        _publish(locked, "payout.completed")
    return True


def payout_mark_failed(
    *,
    reference: str,
    reason_code: str = "",
    message: str = "",
    actor_label: str = "payment gateway",
) -> bool:
    """The gateway (or our own delivery) failed it: -> failed, into the failed-payout queue with
    the reason. A duplicate failure, or one for a completed payout, changes nothing (False)."""
    reason = (message or reason_code or "The gateway reported a failure without a reason.").strip()
    with transaction.atomic():
        locked = _lock_by_reference(reference)
        if locked.status in (S.FAILED, S.COMPLETED):
            if locked.status == S.COMPLETED:
                logger.warning(
                    "Ignored a failure for completed payout %s: %s %s",
                    reference,
                    reason_code,
                    message,
                )
            return False
        can_mark_failed(locked)
        before = snapshot(locked, _AUDITED)
        locked.status, locked.failed_at = S.FAILED, timezone.now()
        locked.failure_code, locked.failure_reason = reason_code[:100], reason
        _save(locked, "status", "failed_at", "failure_code", "failure_reason")
        _audit(locked, "failed", before, actor_label=actor_label, reason=reason)
        _publish(
            locked,
            "payout.failed",
            key_suffix=str(locked.submission_count),
            reason_code=reason_code or None,
            message=message or None,
        )
    logger.warning("Payout %s failed: %s", reference, reason)
    return True


def _mark_ledger_paid(payout: Payout, now: dt.datetime, actor_label: str) -> int:
    """Confirmation is the only moment ledger lines become paid: the approved lines carried by
    the payout's statements move to `paid` (through the ledger's own status service)."""
    allocations = list(
        PayoutAllocation.objects.select_for_update()
        .select_related("statement")
        .filter(payout=payout, released_at__isnull=True)
        .order_by("pk")
    )
    count = 0
    for allocation in allocations:
        statement = allocation.statement
        entries = CommissionEntry.objects.filter(
            statement_period=statement.period,
            affiliate_id=statement.affiliate_id,
            currency=statement.currency,
            status=CommissionEntry.Status.APPROVED,
        )
        count += len(
            commission_entries_set_status(
                entries=entries,
                to_status=CommissionEntry.Status.PAID,
                reason=f"Paid by payout {payout.reference}",
                actor_label=actor_label,
            )
        )
        allocation.paid_at = now
        allocation.save(update_fields=["paid_at"])
    return count
