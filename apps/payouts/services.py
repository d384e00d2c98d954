"""Every write to payouts: methods, payout runs, and the payout state machine.

    draft -> pending_approval -> approved -> submitted -> completed | failed
    failed -> submitted (retry, same reference) | cancelled
    failed -> pending_approval (paid through another method: a new destination, approved anew)

plus the moves the outside world forces on us: the gateway may confirm or fail a payout before
our own record says it accepted the request (approved -> completed | failed), and may confirm
one we recorded as failed (failed -> completed: the money moved, the gateway is the truth).
Draft and pending payouts can be cancelled. Completed and cancelled are final.

Every transition locks the payout row (`select_for_update`; several rows in pk order), checks
its guard (`can_<transition>`, raising `PayoutTransitionRefused` with a message fit for the
admin), and writes its audit row in the same transaction. Approval needs the Finance
permission `payouts.approve_payout` and, with maker-checker on, an approver other than the
preparer. Approval queues the gateway request as an outbound delivery in the same
transaction (the delivery row is the outbox), with `Idempotency-Key: <reference>`.

Where the money goes is dual-controlled (DOMAIN.md "Controls"): submission for approval copies
the method's destination onto the payout (`Payout.destination`), and every gateway request,
first or retry, is built from that copy. Switching a payout to another method copies the new
destination and, for a failed payout, sends it back for approval, which its changer can never
give. A payout whose affiliate has a destination change waiting for approval cannot be
approved (apps.payouts.method_changes).
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction
from django.db.models import Exists, OuterRef, Subquery, Sum
from django.utils import timezone

from apps.affiliates.models import Affiliate
from apps.commissions.models import CommissionEntry, CommissionHold, Statement
from apps.commissions.services import commission_entries_set_status
from apps.core.audit import audit_change, audit_record, snapshot
from apps.core.display import format_money
from apps.integrations.models import OutboundEndpoint
from apps.integrations.outbound import public as outbound
from apps.payouts import conf
from apps.payouts.fx import FxQuote, FxRateMissing, fx_quote
from apps.payouts.models import (
    FxLockMode,
    Payout,
    PayoutAllocation,
    PayoutHold,
    PayoutMethod,
    PayoutMethodChange,
    PayoutRun,
    PayoutRunLine,
    PayoutStatus,
    destination_request_details,
)
from apps.payouts.selectors import held_statement_labels

logger = logging.getLogger(__name__)

S = PayoutStatus
APPROVE_PERMISSION = "payouts.approve_payout"
GATEWAY_TOPIC = "payout.request"
_AUDITED = [
    "status",
    "amount",
    "currency",
    "method_id",
    "fx_rate",
    "fx_source",
    "fx_as_of",
    "fx_locked_at",
    "gateway_reference",
    "failure_code",
    "failure_reason",
    "submission_count",
    "destination",
    "destination_changed_by_id",
    "prepared_by_id",
    "approved_by_id",
]


class PayoutError(ValueError):
    """A payout operation was refused; the message is shown to the operator as is."""


class PayoutTransitionRefused(PayoutError):
    """The payout cannot make this move from where it is (or not by this user)."""


class PayoutNotFound(PayoutError):
    pass


# ---------------------------------------------------------------------------------------------
# Guards: each raises PayoutTransitionRefused with the reason, or returns None.

TRANSITIONS: dict[str, frozenset[str]] = {
    S.DRAFT: frozenset({S.PENDING_APPROVAL, S.CANCELLED}),
    S.PENDING_APPROVAL: frozenset({S.APPROVED, S.CANCELLED}),
    S.APPROVED: frozenset({S.SUBMITTED, S.COMPLETED, S.FAILED}),
    S.SUBMITTED: frozenset({S.COMPLETED, S.FAILED}),
    S.FAILED: frozenset({S.SUBMITTED, S.CANCELLED, S.COMPLETED, S.PENDING_APPROVAL}),
    S.COMPLETED: frozenset(),
    S.CANCELLED: frozenset(),
}


def _require_move(payout: Payout, to_status: str, verb: str) -> None:
    if to_status not in TRANSITIONS[payout.status]:
        raise PayoutTransitionRefused(
            f"Payout {payout.reference} is {payout.get_status_display().lower()}; it cannot be {verb}."
        )


def can_submit_for_approval(payout: Payout, acting_user=None) -> None:
    if payout.status != S.DRAFT:
        raise PayoutTransitionRefused(
            f"Payout {payout.reference} is {payout.get_status_display().lower()}; it cannot be submitted for approval."
        )
    if not payout.method.is_active:
        raise PayoutTransitionRefused(
            f"The payout method of {payout.reference} is no longer active; change the method."
        )


def pending_destination_changes(affiliate_id: int):
    return PayoutMethodChange.objects.filter(
        affiliate_id=affiliate_id, status=PayoutMethodChange.Status.PENDING
    )


def can_approve(payout: Payout, acting_user) -> None:
    _require_move(payout, S.APPROVED, "approved")
    if acting_user is None or not acting_user.has_perm(APPROVE_PERMISSION):
        raise PayoutTransitionRefused(
            f"Approving payout {payout.reference} needs the Finance permission to approve payouts."
        )
    if (
        conf.get("PAYOUT_MAKER_CHECKER")
        and payout.prepared_by_id is not None
        and payout.prepared_by_id == acting_user.pk
    ):
        raise PayoutTransitionRefused(
            f"Payout {payout.reference} was prepared by you; another Finance user must approve it (maker-checker)."
        )
    # Not subject to the maker-checker setting: destinations are always dual-controlled.
    if (
        payout.destination_changed_by_id is not None
        and payout.destination_changed_by_id == acting_user.pk
    ):
        raise PayoutTransitionRefused(
            f"You changed where payout {payout.reference} pays; another Finance user must approve it."
        )
    if payout.destination is None:
        raise PayoutTransitionRefused(
            f"Payout {payout.reference} has no recorded destination; submit it for approval."
        )
    held = held_statement_labels([payout.pk]).get(payout.pk)
    if held:
        raise PayoutTransitionRefused(
            f"Payout {payout.reference} carries a held commission line (held: {held}); it is paid "
            "once the hold is released, or cancel it."
        )
    if pending_destination_changes(payout.affiliate_id).exists():
        raise PayoutTransitionRefused(
            f"Payout {payout.reference}: the affiliate has a payout destination change waiting for approval; "
            "decide it first (Payout destination changes)."
        )


def can_retry(payout: Payout, acting_user) -> None:
    if payout.status != S.FAILED:
        raise PayoutTransitionRefused(
            f"Only failed payouts can be retried; {payout.reference} is {payout.status}."
        )
    if acting_user is None or not acting_user.has_perm(APPROVE_PERMISSION):
        raise PayoutTransitionRefused(
            "Retrying a payout needs the Finance permission to approve payouts."
        )


def can_change_method(payout: Payout, method: PayoutMethod, acting_user=None) -> None:
    if payout.status not in (S.DRAFT, S.PENDING_APPROVAL, S.FAILED):
        raise PayoutTransitionRefused(
            f"The method of payout {payout.reference} can only change while it is draft, pending approval or failed "
            f"(it is {payout.status})."
        )
    if method.affiliate_id != payout.affiliate_id:
        raise PayoutTransitionRefused("That payout method belongs to another affiliate.")
    if not method.is_active:
        raise PayoutTransitionRefused("That payout method is not active.")
    if method.pk == payout.method_id:
        raise PayoutTransitionRefused(
            f"Payout {payout.reference} already pays through that method."
        )
    if method.currency != payout.currency:
        raise PayoutTransitionRefused(
            f"The new method pays {method.currency} but payout {payout.reference} is in {payout.currency}; "
            "cancel it and run payouts again to convert."
        )


def can_change_method_status(payout: Payout) -> None:
    """The state part of can_change_method (for the admin, before a method is chosen)."""
    if payout.status not in (S.DRAFT, S.PENDING_APPROVAL, S.FAILED):
        raise PayoutTransitionRefused(f"The method of a {payout.status} payout cannot change.")


def can_cancel(payout: Payout, acting_user=None) -> None:
    _require_move(payout, S.CANCELLED, "cancelled")


def can_mark_completed(payout: Payout) -> None:
    _require_move(payout, S.COMPLETED, "completed")


def can_mark_failed(payout: Payout) -> None:
    _require_move(payout, S.FAILED, "marked failed")


def allowed(guard, *args) -> bool:
    """Whether a guard passes (for the admin's buttons)."""
    try:
        guard(*args)
    except PayoutError:
        return False
    return True


# ---------------------------------------------------------------------------------------------
# Locking and auditing helpers


def _lock(payout: Payout | int) -> Payout:
    pk = payout if isinstance(payout, int) else payout.pk
    return (
        Payout.objects.select_for_update(of=("self",))
        .select_related("method", "affiliate")
        .get(pk=pk)
    )


def _lock_by_reference(reference: str) -> Payout:
    locked = (
        Payout.objects.select_for_update(of=("self",))
        .select_related("method", "affiliate")
        .filter(reference=reference)
        .first()
    )
    if locked is None:
        raise PayoutNotFound(f"No payout with reference {reference!r}.")
    return locked


def _audit(
    payout: Payout,
    action: str,
    before: dict,
    *,
    acting_user=None,
    actor_label: str = "",
    reason: str = "",
) -> None:
    audit_record(
        action=f"payout.{action}",
        instance=payout,
        actor=acting_user,
        actor_label=actor_label,
        before=before,
        after=snapshot(payout, _AUDITED),
        reason=reason,
    )


def _save(payout: Payout, *fields: str) -> None:
    payout.save(update_fields=[*fields, "updated_at"])


# ---------------------------------------------------------------------------------------------
# Subscriber events and the gateway request


def _event_data(payout: Payout) -> dict:
    return {
        "payout_reference": payout.reference,
        "affiliate_id": payout.affiliate_id,
        "amount": str(payout.amount),
        "currency": payout.currency,
        "source_amount": str(payout.source_amount),
        "source_currency": payout.source_currency,
        "fx_rate": str(payout.fx_rate),
        "method": (payout.destination or {}).get("kind") or payout.method.kind,
        "status": payout.status,
        "gateway_reference": payout.gateway_reference or None,
    }


def _publish(payout: Payout, event_type: str, *, key_suffix: str = "", **extra) -> None:
    key = f"{event_type}:{payout.reference}" + (f":{key_suffix}" if key_suffix else "")
    outbound.subscriber_event_publish(event_type, _event_data(payout) | extra, idempotency_key=key)


def gateway_endpoint() -> OutboundEndpoint:
    """The payment gateway payout requests go to (setting PAYOUT_GATEWAY_ENDPOINT, by name)."""
    name = conf.get("PAYOUT_GATEWAY_ENDPOINT")
    gateways = OutboundEndpoint.objects.filter(kind=OutboundEndpoint.Kind.GATEWAY)
    if name:
        endpoint = gateways.filter(name=name).first()
    else:
        candidates = list(gateways.filter(is_active=True)[:2])
        endpoint = candidates[0] if len(candidates) == 1 else None
        if len(candidates) > 1:
            raise PayoutError(
                "Several payment gateway endpoints are active; name one in AFFILIATEHUB_PAYOUT_GATEWAY_ENDPOINT."
            )
    if endpoint is None:
        raise PayoutError(
            "No payment gateway endpoint is configured (an outbound endpoint of kind gateway)."
        )
    return endpoint


def gateway_request_body(payout: Payout) -> dict:
    """The payout request, paying the approved destination snapshot (never the method's current
    values, which may have changed since)."""
    if payout.destination is None:
        raise PayoutTransitionRefused(f"Payout {payout.reference} has no approved destination.")
    return {
        "reference": payout.reference,
        "amount": str(payout.amount),
        "currency": payout.currency,
        "method": destination_request_details(payout.destination),
        "beneficiary": {"affiliate_id": payout.affiliate_id, "name": payout.affiliate.name},
    }


def _queue_gateway_request(payout: Payout, endpoint: OutboundEndpoint) -> None:
    """One delivery per submission; the Idempotency-Key header is the reference on every one."""
    payout.submission_count += 1
    outbound.delivery_enqueue(
        endpoint=endpoint,
        event_type=GATEWAY_TOPIC,
        payload=gateway_request_body(payout),
        idempotency_key=f"payout-request:{payout.reference}:{payout.submission_count}",
        url=endpoint.url.rstrip("/") + "/payouts",
        headers={"Idempotency-Key": payout.reference},
        topic=GATEWAY_TOPIC,
        subject=payout.reference,
    )


# ---------------------------------------------------------------------------------------------
# Transitions driven by Finance


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
            f"Payout {payout.reference} converts to {format_money(amount, payout.currency)}; nothing to pay."
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
            reason=f"Previous failure: {before.get('failure_code') or ''} {before.get('failure_reason') or ''}".strip(),
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


# ---------------------------------------------------------------------------------------------
# Transitions driven by the gateway (inbound webhooks) and by the outbound engine


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


# ---------------------------------------------------------------------------------------------
# Payout methods


def payout_method_create(
    *,
    affiliate: Affiliate,
    kind: str,
    currency: str,
    threshold: Decimal | None = None,
    details: dict | None = None,
    beneficiary_name: str = "",
    beneficiary_address: str = "",
    wallet_address: str = "",
    is_default: bool = True,
    acting_user=None,
) -> PayoutMethod:
    """Add a payout method directly; as the default it replaces the affiliate's previous default.

    Bootstrap path for system setup (the sandbox gateway, imports) only: people change payout
    destinations through a second-person-approved request (apps.payouts.method_changes)."""
    if kind not in PayoutMethod.Kind.values:
        raise PayoutError(f"Unknown payout method {kind!r}.")
    if kind == PayoutMethod.Kind.USDT and not (
        beneficiary_name.strip() and beneficiary_address.strip() and wallet_address.strip()
    ):
        raise PayoutError(
            "USDT payouts need the beneficiary's name, address and wallet address (travel rule)."
        )
    if threshold is not None and threshold < 0:
        raise PayoutError("A threshold cannot be negative.")
    with transaction.atomic():
        Affiliate.objects.select_for_update().get(pk=affiliate.pk)  # one default at a time
        if is_default:
            for previous in PayoutMethod.objects.filter(
                affiliate=affiliate, is_default=True
            ).order_by("pk"):
                before = snapshot(previous)
                previous.is_default = False
                previous.save(update_fields=["is_default", "updated_at"])
                audit_change(instance=previous, before=before, actor=acting_user)
        method = PayoutMethod.objects.create(
            affiliate=affiliate,
            kind=kind,
            currency=currency.upper(),
            threshold=threshold,
            details=details or {},
            beneficiary_name=beneficiary_name.strip(),
            beneficiary_address=beneficiary_address.strip(),
            wallet_address=wallet_address.strip(),
            is_default=is_default,
        )
        audit_change(instance=method, before=None, actor=acting_user)
    return method


# ---------------------------------------------------------------------------------------------
# Payout runs


def new_reference(now: dt.datetime | None = None) -> str:
    now = now or timezone.now()
    return f"PO-{now:%Y%m}-{secrets.token_hex(5).upper()}"


def unpaid_statements():
    """Approved statements not carried by a live payout: the affiliate's payable balance."""
    live = PayoutAllocation.objects.filter(statement=OuterRef("pk"), released_at__isnull=True)
    return Statement.objects.filter(status=Statement.Status.APPROVED).exclude(Exists(live))


def affiliate_balances(
    *, affiliate_ids: Sequence[int] | None = None
) -> dict[tuple[int, str], Decimal]:
    """Payable balance per (affiliate, currency)."""
    qs = unpaid_statements()
    if affiliate_ids is not None:
        qs = qs.filter(affiliate_id__in=affiliate_ids)
    return {
        (row["affiliate_id"], row["currency"]): row["total"]
        for row in qs.values("affiliate_id", "currency").annotate(total=Sum("total")).order_by()
    }


def _default_methods(affiliate_ids: Iterable[int]) -> dict[int, PayoutMethod]:
    return {
        m.affiliate_id: m
        for m in PayoutMethod.objects.filter(
            affiliate_id__in=list(affiliate_ids), is_active=True, is_default=True
        )
    }


def payout_run_create(*, acting_user=None, now: dt.datetime | None = None) -> PayoutRun:
    """Turn approved, unpaid statements into draft payouts, one per affiliate and currency.

    The total is converted into the currency of the affiliate's default method at the locked
    rate: with the default lock mode, the rate published when the newest of its statements
    was approved (DOMAIN.md: locked at statement approval); with `disbursement`, a provisional
    rate now, locked again at payout approval. Under the method's threshold, or without an
    active method, the balance carries forward (a run line records why) and stays available to
    the next run. Statements are locked (pk order) and reserved by allocations, so two runs at
    once never pay a statement twice.
    """
    now = now or timezone.now()
    lock_mode = conf.get("PAYOUT_FX_LOCK")
    if lock_mode not in FxLockMode.values:
        raise PayoutError(f"AFFILIATEHUB_PAYOUT_FX_LOCK must be one of {FxLockMode.values}.")
    with transaction.atomic():
        statements = list(
            unpaid_statements()
            .annotate(held_by=Subquery(_statement_line_holds().values("label")[:1]))
            .select_for_update(of=("self",), skip_locked=True)
            .order_by("pk")
        )
        groups: dict[tuple[int, str], list[Statement]] = defaultdict(list)
        held_groups: dict[tuple[int, str], list[Statement]] = defaultdict(list)
        for statement in statements:
            # A statement carrying a held ledger line (a risk case) is not paid until released.
            target = held_groups if statement.held_by else groups
            target[(statement.affiliate_id, statement.currency)].append(statement)
        methods = _default_methods({affiliate_id for affiliate_id, _ in groups})
        holds = _holds_for({affiliate_id for affiliate_id, _ in groups}, acting_user)
        run = PayoutRun.objects.create(created_by=acting_user, source="statements")
        totals: dict[str, Decimal] = defaultdict(Decimal)
        lines = [
            PayoutRunLine(
                run=run,
                affiliate_id=affiliate_id,
                source_amount=sum((s.total for s in group), Decimal(0)),
                source_currency=currency,
                outcome=PayoutRunLine.Outcome.HELD,
                note=f"Held: {group[0].held_by} (statement {', '.join(str(s.pk) for s in group)})"[
                    :300
                ],
            )
            for (affiliate_id, currency), group in sorted(held_groups.items())
        ]
        for (affiliate_id, currency), group in sorted(groups.items()):
            balance = sum((s.total for s in group), Decimal(0))
            line = PayoutRunLine(
                run=run,
                affiliate_id=affiliate_id,
                source_amount=balance,
                source_currency=currency,
                outcome=PayoutRunLine.Outcome.CARRIED_FORWARD,
            )
            lines.append(line)
            method = methods.get(affiliate_id)
            if affiliate_id in holds:
                line.outcome, line.note = (
                    PayoutRunLine.Outcome.HELD,
                    f"Held: {holds[affiliate_id].reason}"[:300],
                )
                continue
            if balance <= 0:
                line.note = "No positive balance."
                continue
            if method is None:
                line.note = "No active default payout method."
                continue
            line.method_currency, line.threshold = method.currency, method.effective_threshold
            rate_time = (
                max(s.approved_at for s in group)
                if lock_mode == FxLockMode.STATEMENT_APPROVAL
                else now
            )
            try:
                quote = fx_quote(base=currency, quote=method.currency, at=rate_time)
            except FxRateMissing as exc:
                line.note = str(exc)[:300]
                continue
            amount = quote.convert(balance)
            line.converted_amount = amount
            if amount < method.effective_threshold or amount <= 0:
                line.note = f"Under the {method.get_kind_display()} threshold of {method.effective_threshold} {method.currency}."
                continue
            payout = _payout_create(
                run=run,
                method=method,
                amount=amount,
                balance=balance,
                currency=currency,
                quote=quote,
                lock_mode=lock_mode,
                now=now,
                group=group,
            )
            line.outcome, line.payout, line.note = PayoutRunLine.Outcome.PAYOUT, payout, ""
            totals[payout.currency] += payout.amount
        PayoutRunLine.objects.bulk_create(lines)
        run.payout_count = sum(1 for line in lines if line.outcome == PayoutRunLine.Outcome.PAYOUT)
        held = sum(1 for line in lines if line.outcome == PayoutRunLine.Outcome.HELD)
        run.carried_forward_count = len(lines) - run.payout_count
        run.totals = {currency: str(total) for currency, total in sorted(totals.items())}
        run.save(update_fields=["payout_count", "carried_forward_count", "totals"])
        audit_record(
            action="payout_run.created",
            instance=run,
            actor=acting_user,
            actor_label="" if acting_user else "system",
            after={
                "payouts": run.payout_count,
                "carried_forward": run.carried_forward_count,
                "held": held,
                "totals": run.totals,
            },
        )
    return run


def _statement_line_holds():
    """Live holds on approved lines of the statement `OuterRef` (its period, affiliate, currency)."""
    return CommissionHold.objects.filter(
        released_at__isnull=True,
        entry__status=CommissionEntry.Status.APPROVED,
        entry__statement_period=OuterRef("period"),
        entry__affiliate_id=OuterRef("affiliate_id"),
        entry__currency=OuterRef("currency"),
    ).order_by("pk")


def payout_hold_place(*, affiliate: Affiliate, reason: str, actor_label: str) -> PayoutHold:
    """Hold the affiliate's payable balance (e.g. a risk case above its score): payout runs leave
    it unpaid until released. The live hold is returned when one exists already."""
    with transaction.atomic():
        live = PayoutHold.objects.filter(affiliate=affiliate, released_at__isnull=True)
        existing = live.first()
        if existing is not None:
            return existing
        # The partial unique index makes a concurrent placement a no-op; read back the winner.
        PayoutHold.objects.bulk_create(
            [PayoutHold(affiliate=affiliate, reason=reason[:300])], ignore_conflicts=True
        )
        hold = live.get()
        if hold.reason == reason[:300]:
            audit_record(
                action="payout_hold.placed",
                instance=hold,
                actor_label=actor_label,
                after=snapshot(hold, ["affiliate", "reason"]),
            )
        return hold


def _holds_for(affiliate_ids: set[int], acting_user) -> dict[int, PayoutHold]:
    """The live holds of these affiliates, placing one on each suspended or banned affiliate that
    has none (the partial unique index makes a concurrent run's insert a no-op)."""
    live = PayoutHold.objects.filter(affiliate_id=OuterRef("pk"), released_at__isnull=True)
    inactive = (
        Affiliate.objects.filter(pk__in=affiliate_ids)
        .exclude(status=Affiliate.Status.ACTIVE)
        .exclude(Exists(live))
        .order_by("pk")
    )
    new_holds = [
        PayoutHold(
            affiliate_id=a.pk,
            reason=f"Affiliate {a.get_status_display().lower()}; held until Finance releases it.",
        )
        for a in inactive
    ]
    if new_holds:
        PayoutHold.objects.bulk_create(new_holds, ignore_conflicts=True)
        for hold in PayoutHold.objects.filter(
            affiliate_id__in=[h.affiliate_id for h in new_holds], released_at__isnull=True
        ):
            audit_record(
                action="payout_hold.placed",
                instance=hold,
                actor=acting_user,
                actor_label="" if acting_user else "payout run",
                after=snapshot(hold, ["affiliate", "reason"]),
            )
    return {
        h.affiliate_id: h
        for h in PayoutHold.objects.filter(affiliate_id__in=affiliate_ids, released_at__isnull=True)
    }


def payout_hold_release(
    *,
    hold: PayoutHold,
    acting_user,
    reason: str,
    permission: str = "payouts.release_payouthold",
) -> PayoutHold:
    """Finance releases a held balance: the next payout run pays it. Refused while the affiliate
    is still suspended or banned (Compliance reactivates it first) and without a reason. A hold a
    risk case placed is released by that case's decision (`permission`: deciding risk cases)."""
    if acting_user is None or not acting_user.has_perm(permission):
        raise PayoutError("Releasing a held balance needs the Finance permission to release holds.")
    if not (reason or "").strip():
        raise PayoutError("Releasing a held balance needs a reason.")
    with transaction.atomic():
        locked = PayoutHold.objects.select_for_update().select_related("affiliate").get(pk=hold.pk)
        if locked.released_at is not None:
            raise PayoutError(f"The hold on {locked.affiliate} was already released.")
        if locked.affiliate.status != Affiliate.Status.ACTIVE:
            raise PayoutError(
                f"{locked.affiliate} is {locked.affiliate.get_status_display().lower()}; it must be reactivated "
                "before its balance is released."
            )
        before = snapshot(locked, ["released_at", "released_by", "release_reason"])
        locked.released_at, locked.released_by, locked.release_reason = (
            timezone.now(),
            acting_user,
            reason.strip(),
        )
        locked.save(update_fields=["released_at", "released_by", "release_reason"])
        audit_record(
            action="payout_hold.released",
            instance=locked,
            actor=acting_user,
            before=before,
            after=snapshot(locked, ["released_at", "released_by", "release_reason"]),
            reason=reason,
        )
    return locked


def _payout_create(
    *, run, method, amount, balance, currency, quote: FxQuote, lock_mode, now, group
) -> Payout:
    payout = Payout.objects.create(
        reference=new_reference(now),
        affiliate_id=method.affiliate_id,
        method=method,
        run=run,
        amount=amount,
        currency=method.currency,
        source_amount=balance,
        source_currency=currency,
        fx_rate=quote.rate,
        fx_source=quote.source,
        fx_as_of=quote.as_of,
        fx_lock_mode=lock_mode,
        # Locked at statement approval: final now. At disbursement: set when approved.
        fx_locked_at=now if lock_mode == FxLockMode.STATEMENT_APPROVAL else None,
    )
    PayoutAllocation.objects.bulk_create(
        [
            PayoutAllocation(payout=payout, statement=s, amount=s.total, currency=s.currency)
            for s in group
        ]
    )
    audit_record(
        action="payout.created",
        instance=payout,
        actor=run.created_by,
        actor_label="" if run.created_by else "payout run",
        after=snapshot(payout, _AUDITED) | {"statements": [s.pk for s in group]},
    )
    return payout
