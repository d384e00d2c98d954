"""Transitions driven by Finance: submit for approval, approve (one or several), retry, change
the method, cancel."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from apps.core.audit import snapshot
from apps.core.display import format_money
from apps.integrations.models import OutboundEndpoint
from apps.payouts.fx import FxRateMissing, fx_quote
from apps.payouts.models import (
    FxLockMode,
    Payout,
    PayoutAllocation,
    PayoutMethod,
)
from apps.payouts.services.common import (
    _AUDITED,
    PayoutError,
    PayoutTransitionRefused,
    S,
    _audit,
    _lock,
    _save,
)
from apps.payouts.services.gateway import (
    _publish,
    _queue_gateway_request,
    gateway_endpoint,
)
from apps.payouts.services.guards import (
    can_approve,
    can_cancel,
    can_change_method,
    can_retry,
    can_submit_for_approval,
)


def payout_submit_for_approval(*, payout: Payout, acting_user) -> Payout:
    """draft -> pending_approval. The submitter is the preparer (the maker). The method's
    destination is copied onto the payout: what the approver sees and the gateway is paid to."""
    with transaction.atomic():
        locked = _lock(payout)
        can_submit_for_approval(locked, acting_user)
        before = snapshot(locked, _AUDITED)
        locked.status, locked.prepared_by = S.PENDING_APPROVAL, acting_user
        locked.submitted_for_approval_at = timezone.now()
        locked.destination = locked.method.destination()
        _save(locked, "status", "prepared_by", "submitted_for_approval_at", "destination")
        _audit(locked, "submitted_for_approval", before, acting_user=acting_user)
    return locked


def _lock_rate_at_disbursement(payout: Payout, now: dt.datetime) -> None:
    quote = fx_quote(base=payout.source_currency, quote=payout.currency, at=now)
    amount = quote.convert(payout.source_amount)
    if amount <= 0:
        raise PayoutTransitionRefused(
            f"Payout {payout.reference} converts to {format_money(amount, payout.currency)}; "
            "nothing to pay."
        )
    payout.amount, payout.fx_rate, payout.fx_source, payout.fx_as_of = (
        amount,
        quote.rate,
        quote.source,
        quote.as_of,
    )


def _approve_locked(
    locked: Payout, acting_user, endpoint: OutboundEndpoint, now: dt.datetime
) -> None:
    can_approve(locked, acting_user)
    before = snapshot(locked, _AUDITED)
    if locked.fx_lock_mode == FxLockMode.DISBURSEMENT:
        try:
            _lock_rate_at_disbursement(locked, now)
        except FxRateMissing as exc:
            raise PayoutTransitionRefused(f"Payout {locked.reference}: {exc}") from exc
    locked.fx_locked_at = locked.fx_locked_at or now
    locked.status, locked.approved_by, locked.approved_at = S.APPROVED, acting_user, now
    _queue_gateway_request(locked, endpoint)
    _save(
        locked,
        "status",
        "approved_by",
        "approved_at",
        "amount",
        "fx_rate",
        "fx_source",
        "fx_as_of",
        "fx_locked_at",
        "submission_count",
    )
    _audit(locked, "approved", before, acting_user=acting_user)
    _publish(locked, "payout.approved")


def payout_approve(*, payout: Payout, acting_user) -> Payout:
    """pending_approval -> approved, and queue the gateway request in the same transaction.

    Twenty concurrent approvals of one payout make one request: the row lock serialises them
    and every one after the first finds the payout approved and is refused.
    """
    endpoint = gateway_endpoint()
    with transaction.atomic():
        locked = _lock(payout)
        _approve_locked(locked, acting_user, endpoint, timezone.now())
    return locked


@dataclass
class BulkResult:
    done: list[Payout] = field(default_factory=list)
    refused: list[tuple[Payout, str]] = field(default_factory=list)


def payouts_approve(*, payouts: Iterable[Payout], acting_user) -> BulkResult:
    """Approve several payouts in one transaction, locking them in pk order. Payouts that
    cannot be approved are reported (with the reason) and left as they are."""
    endpoint = gateway_endpoint()
    result = BulkResult()
    ids = sorted({p.pk for p in payouts})
    with transaction.atomic():
        now = timezone.now()
        locked_rows = list(
            Payout.objects.select_for_update(of=("self",))
            .select_related("method", "affiliate")
            .filter(pk__in=ids)
            .order_by("pk")
        )
        for locked in locked_rows:
            try:
                with transaction.atomic():
                    _approve_locked(locked, acting_user, endpoint, now)
            except PayoutError as exc:
                locked.refresh_from_db()
                result.refused.append((locked, str(exc)))
            else:
                result.done.append(locked)
    return result


def payout_retry(*, payout: Payout, acting_user) -> Payout:
    """failed -> submitted: send the request again with the same reference (Idempotency-Key)."""
    endpoint = gateway_endpoint()
    with transaction.atomic():
        locked = _lock(payout)
        can_retry(locked, acting_user)
        before = snapshot(locked, _AUDITED)
        locked.status, locked.submitted_at = S.SUBMITTED, timezone.now()
        locked.failure_code, locked.failure_reason = "", ""
        _queue_gateway_request(locked, endpoint)
        _save(
            locked, "status", "submitted_at", "failure_code", "failure_reason", "submission_count"
        )
        _audit(
            locked,
            "retried",
            before,
            acting_user=acting_user,
            reason=(
                f"Previous failure: {before.get('failure_code') or ''} "
                f"{before.get('failure_reason') or ''}"
            ).strip(),
        )
    return locked


def payout_change_method(
    *, payout: Payout, method: PayoutMethod, acting_user, reason: str = ""
) -> Payout:
    """Pay through another of the affiliate's methods (same currency). Draft, pending or failed.

    A pending or failed payout gets the new method's destination as its snapshot and waits (again)
    for approval, which the person who changed it can never give: a failed payout goes back to
    pending approval with the changer as its preparer; it is not retried.
    """
    with transaction.atomic():
        locked = _lock(payout)
        method = PayoutMethod.objects.select_for_update().get(
            pk=method.pk
        )  # its values as they are now
        can_change_method(locked, method, acting_user)
        before = snapshot(locked, _AUDITED)
        locked.method, locked.destination_changed_by = method, acting_user
        fields = ["method", "destination_changed_by"]
        if locked.status in (S.PENDING_APPROVAL, S.FAILED):
            locked.destination = method.destination()
            fields.append("destination")
        if locked.status == S.FAILED:
            locked.status, locked.prepared_by = S.PENDING_APPROVAL, acting_user
            locked.submitted_for_approval_at = timezone.now()
            locked.approved_by, locked.approved_at = None, None
            fields += [
                "status",
                "prepared_by",
                "submitted_for_approval_at",
                "approved_by",
                "approved_at",
            ]
        _save(locked, *fields)
        _audit(locked, "method_changed", before, acting_user=acting_user, reason=reason)
    return locked


def payout_cancel(*, payout: Payout, acting_user, reason: str) -> Payout:
    """draft | pending_approval | failed -> cancelled. Its statements return to the affiliate's
    balance (their allocations are released) for the next payout run."""
    if not (reason or "").strip():
        raise PayoutError("Cancelling a payout needs a reason.")
    with transaction.atomic():
        locked = _lock(payout)
        can_cancel(locked, acting_user)
        before = snapshot(locked, _AUDITED)
        now = timezone.now()
        locked.status, locked.cancelled_at = S.CANCELLED, now
        _save(locked, "status", "cancelled_at")
        released = PayoutAllocation.objects.filter(payout=locked, released_at__isnull=True).update(
            released_at=now
        )
        _audit(
            locked,
            "cancelled",
            before | {"released_allocations": released},
            acting_user=acting_user,
            reason=reason,
        )
    return locked
