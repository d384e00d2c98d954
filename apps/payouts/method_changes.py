"""Changes to where an affiliate is paid, under dual control (DOMAIN.md "Controls").

Adding, editing or deactivating a payout method, or making another one the default, is first a
`PayoutMethodChange` with the values before and after; it takes effect only when a second Finance
user approves it (never the requester: refused here and by a database constraint). Each step is
audited with its values in the same transaction. While a change is pending, none of the
affiliate's payouts can be approved (apps.payouts.services.can_approve).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.utils import timezone

from apps.affiliates.models import Affiliate
from apps.core.audit import audit_change, audit_record, snapshot, stored_values
from apps.payouts.models import PayoutMethod, PayoutMethodChange
from apps.payouts.services import PayoutError

APPROVE_PERMISSION = "payouts.approve_payoutmethodchange"
Action = PayoutMethodChange.Action
# What a request may set on a method; kind, currency and affiliate are fixed once it exists.
VALUE_FIELDS = (
    "kind",
    "currency",
    "threshold",
    "details",
    "beneficiary_name",
    "beneficiary_address",
    "wallet_address",
    "is_default",
    "is_active",
)
EDITABLE_FIELDS = (
    "threshold",
    "details",
    "beneficiary_name",
    "beneficiary_address",
    "wallet_address",
)
_TRAVEL_RULE = ("beneficiary_name", "beneficiary_address", "wallet_address")


class PayoutMethodChangeRefused(PayoutError):
    """A destination change request, or its decision, was refused."""


def method_values(method: PayoutMethod) -> dict:
    return snapshot(method, list(VALUE_FIELDS))


def _normalise(values: dict) -> dict:
    out = dict(values)
    if "currency" in out:
        out["currency"] = (out["currency"] or "").upper()
    for name in _TRAVEL_RULE:
        if name in out:
            out[name] = (out[name] or "").strip()
    if "details" in out and not isinstance(out["details"] or {}, dict):
        raise PayoutMethodChangeRefused('Details must be an object, e.g. {"email": "..."}.')
    if "details" in out:
        out["details"] = out["details"] or {}
    if "threshold" in out and out["threshold"] not in (None, ""):
        try:
            threshold = Decimal(str(out["threshold"]))
        except InvalidOperation as exc:
            raise PayoutMethodChangeRefused(
                f"Threshold {out['threshold']!r} is not an amount."
            ) from exc
        if threshold < 0:
            raise PayoutMethodChangeRefused("A threshold cannot be negative.")
        out["threshold"] = str(threshold)
    elif "threshold" in out:
        out["threshold"] = None
    return {k: v for k, v in out.items() if k in VALUE_FIELDS}


def _validate(values: dict) -> None:
    if values.get("kind") not in PayoutMethod.Kind.values:
        raise PayoutMethodChangeRefused(f"Unknown payout method {values.get('kind')!r}.")
    if values["kind"] == PayoutMethod.Kind.USDT and not all(
        values.get(name) for name in _TRAVEL_RULE
    ):
        raise PayoutMethodChangeRefused(
            "USDT payouts need the beneficiary's name, address and wallet address (travel rule)."
        )


def payout_method_change_request(
    *,
    affiliate: Affiliate,
    action: str,
    acting_user,
    method: PayoutMethod | None = None,
    values: dict | None = None,
    reason: str = "",
) -> PayoutMethodChange:
    """Record a destination change for a second Finance user to approve; nothing changes yet."""
    if acting_user is None:
        raise PayoutMethodChangeRefused("A destination change is requested by a Finance user.")
    if action not in Action.values:
        raise PayoutMethodChangeRefused(f"Unknown change {action!r}.")
    with transaction.atomic():
        if method is not None:
            method = PayoutMethod.objects.select_for_update().get(pk=method.pk)
            if method.affiliate_id != affiliate.pk:
                raise PayoutMethodChangeRefused("That payout method belongs to another affiliate.")
        if action == Action.CREATE:
            after = {
                "is_default": True,
                "is_active": True,
                "threshold": None,
                "details": {},
                "beneficiary_name": "",
                "beneficiary_address": "",
                "wallet_address": "",
            } | _normalise(values or {})
            _validate(after)
            before = None
        else:
            if method is None:
                raise PayoutMethodChangeRefused("Name the payout method to change.")
            before = method_values(method)
            if action == Action.UPDATE:
                proposed = _normalise(
                    {k: v for k, v in (values or {}).items() if k in EDITABLE_FIELDS}
                )
                after = {k: v for k, v in proposed.items() if before.get(k) != v}
                if not after:
                    raise PayoutMethodChangeRefused(
                        "Nothing to change: the values are the method's current ones."
                    )
                _validate(before | after)
            elif action == Action.DEACTIVATE:
                if not method.is_active:
                    raise PayoutMethodChangeRefused("That payout method is already inactive.")
                after = {"is_active": False}
            else:
                if not method.is_active:
                    raise PayoutMethodChangeRefused("An inactive method cannot become the default.")
                if method.is_default:
                    raise PayoutMethodChangeRefused("That payout method is already the default.")
                after = {"is_default": True}
        change = PayoutMethodChange.objects.create(
            affiliate=affiliate,
            method=method,
            action=action,
            before=before,
            after=after,
            reason=reason.strip(),
            requested_by=acting_user,
        )
        audit_record(
            action="payout_method_change.requested",
            instance=change,
            actor=acting_user,
            before=before,
            after=after,
            reason=reason,
        )
    return change


def can_decide(change: PayoutMethodChange, acting_user, *, approving: bool) -> None:
    if change.status != PayoutMethodChange.Status.PENDING:
        raise PayoutMethodChangeRefused(
            f"Destination change #{change.pk} was already {change.status}."
        )
    if acting_user is None or not acting_user.has_perm(APPROVE_PERMISSION):
        raise PayoutMethodChangeRefused(
            "Deciding a destination change needs the Finance permission to approve them."
        )
    if approving and change.requested_by_id == acting_user.pk:
        raise PayoutMethodChangeRefused(
            f"You requested destination change #{change.pk}; another Finance user must approve it."
        )


def _lock_change(change: PayoutMethodChange) -> PayoutMethodChange:
    return (
        PayoutMethodChange.objects.select_for_update().select_related("affiliate").get(pk=change.pk)
    )


def _unset_other_defaults(
    affiliate_id: int, keep_pk: int | None, acting_user, change: PayoutMethodChange
) -> None:
    others = PayoutMethod.objects.select_for_update().filter(
        affiliate_id=affiliate_id, is_default=True
    )
    for other in others.exclude(pk=keep_pk).order_by("pk"):
        before = stored_values(other)
        other.is_default = False
        other.save(update_fields=["is_default", "updated_at"])
        audit_change(
            instance=other,
            before=before,
            actor=acting_user,
            reason=f"Destination change #{change.pk}",
        )


def payout_method_change_approve(*, change: PayoutMethodChange, acting_user) -> PayoutMethodChange:
    """A second Finance user approves: the change is applied to the method, with its values
    audited."""
    with transaction.atomic():
        locked = _lock_change(change)
        can_decide(locked, acting_user, approving=True)
        Affiliate.objects.select_for_update(no_key=True).only("pk").get(
            pk=locked.affiliate_id
        )  # one default at a time
        after = locked.after
        note = (
            f"Destination change #{locked.pk} requested by {locked.requested_by}, approved by "
            f"{acting_user}"
        )
        if locked.action == Action.CREATE:
            if after.get("is_default"):
                _unset_other_defaults(locked.affiliate_id, None, acting_user, locked)
            method = PayoutMethod(affiliate_id=locked.affiliate_id)
            before = None
        else:
            method = PayoutMethod.objects.select_for_update().get(pk=locked.method_id)
            before = stored_values(method)
            current = method_values(method)
            if any(current.get(k) != v for k, v in (locked.before or {}).items()):
                raise PayoutMethodChangeRefused(
                    f"The method changed after destination change #{locked.pk} was requested; "
                    "reject it and request again."
                )
            if locked.action == Action.SET_DEFAULT:
                _unset_other_defaults(locked.affiliate_id, method.pk, acting_user, locked)
        for name, value in after.items():
            if name == "threshold":
                value = Decimal(value) if value not in (None, "") else None
            setattr(method, name, value)
        method.save()
        audit_change(instance=method, before=before, actor=acting_user, reason=note)
        locked.method = method
        locked.status, locked.decided_by, locked.decided_at = (
            PayoutMethodChange.Status.APPROVED,
            acting_user,
            timezone.now(),
        )
        locked.save(update_fields=["method", "status", "decided_by", "decided_at"])
        audit_record(
            action="payout_method_change.approved",
            instance=locked,
            actor=acting_user,
            before=locked.before,
            after=method_values(method),
            reason=note,
        )
    return locked


def payout_method_change_reject(
    *, change: PayoutMethodChange, acting_user, reason: str
) -> PayoutMethodChange:
    """Another Finance user rejects a pending change: nothing is applied."""
    if not (reason or "").strip():
        raise PayoutMethodChangeRefused("Rejecting a destination change needs a reason.")
    with transaction.atomic():
        locked = _lock_change(change)
        can_decide(locked, acting_user, approving=False)
        locked.status, locked.decided_by, locked.decided_at = (
            PayoutMethodChange.Status.REJECTED,
            acting_user,
            timezone.now(),
        )
        locked.decision_reason = reason.strip()
        if locked.decided_by_id == locked.requested_by_id:
            raise PayoutMethodChangeRefused(
                "You requested this change; another Finance user rejects it (or leave it for them "
                "to decide)."
            )
        locked.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
        audit_record(
            action="payout_method_change.rejected",
            instance=locked,
            actor=acting_user,
            before={"status": "pending"},
            after={"status": "rejected"},
            reason=reason,
        )
    return locked
